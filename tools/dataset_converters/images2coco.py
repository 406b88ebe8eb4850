#!/usr/bin/env python
"""Image folder -> COCO JSON without annotations:
``python tools/dataset_converters/images2coco.py IMG_PATH CLASSES_TXT OUT_JSON``.
"""
import sys

from visioncraft.cli.converters import main_images2coco as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/images2coco.py')
