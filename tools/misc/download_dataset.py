#!/usr/bin/env python
"""Download a dataset, resumable and checksum-verified:
``python tools/misc/download_dataset.py --dataset-name voc2007 --save-dir data/ [--unzip [--delete]] [--threads N]``.
"""
import sys

from visioncraft.cli.converters import main_download_dataset as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/misc/download_dataset.py')
