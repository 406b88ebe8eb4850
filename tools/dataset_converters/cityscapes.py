#!/usr/bin/env python
"""Cityscapes gtFine polygons -> COCO JSON:
``python tools/dataset_converters/cityscapes.py CITYSCAPES_PATH [-o OUT_DIR] [--nproc N]``.
"""
import sys

from visioncraft.cli.converters import main_cityscapes as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/cityscapes.py')
