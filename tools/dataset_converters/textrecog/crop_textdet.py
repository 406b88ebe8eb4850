#!/usr/bin/env python
"""Text-detection dataset -> word crops + recognition labels:
``python tools/dataset_converters/textrecog/crop_textdet.py --help``."""
import sys

from visioncraft.cli.converters import main_crop_textdet as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textrecog/crop_textdet.py')
