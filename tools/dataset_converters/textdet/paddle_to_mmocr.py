#!/usr/bin/env python
"""PaddleOCR label file -> MMOCR textdet JSON: ``python tools/dataset_converters/textdet/paddle_to_mmocr.py --help``."""
import sys

from visioncraft.cli.converters import main_paddle_to_mmocr as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textdet/paddle_to_mmocr.py')
