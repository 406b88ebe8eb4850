#!/usr/bin/env python
"""MMOCR textdet JSON -> PaddleOCR label file: ``python tools/dataset_converters/textdet/mmocr_to_paddle.py --help``."""
import sys

from visioncraft.cli.converters import main_mmocr_to_paddle as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textdet/mmocr_to_paddle.py')
