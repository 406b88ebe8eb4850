#!/usr/bin/env python
"""Text-detection dataset -> word crops + recognition labels:
``python tools/dataset_converters/textrecog/crop_textdet.py --help``."""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.tasks.textrecog.datasets.crop_dataset import main_crop_textdet as main

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textrecog/crop_textdet.py')
