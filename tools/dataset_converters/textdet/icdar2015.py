#!/usr/bin/env python
"""ICDAR 2015 -> MMOCR textdet JSON: ``python tools/dataset_converters/textdet/icdar2015.py --help``."""
import sys

from visioncraft.cli.converters import main_icdar2015 as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textdet/icdar2015.py')
