#!/usr/bin/env python
"""Pascal VOC devkit -> COCO JSON:
``python tools/dataset_converters/pascal_voc.py DEVKIT_PATH [-o OUT_DIR]``.
"""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.tasks.detection.converters import main_pascal_voc as main

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/pascal_voc.py')
