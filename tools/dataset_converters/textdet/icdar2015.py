#!/usr/bin/env python
"""ICDAR 2015 -> MMOCR textdet JSON: ``python tools/dataset_converters/textdet/icdar2015.py --help``."""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.tasks.textdet.datasets.convert import main_icdar2015 as main

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textdet/icdar2015.py')
