#!/usr/bin/env python
"""Pascal VOC devkit -> COCO JSON:
``python tools/dataset_converters/pascal_voc.py DEVKIT_PATH [-o OUT_DIR]``.
"""
import sys

from visioncraft.cli.converters import main_pascal_voc as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/pascal_voc.py')
