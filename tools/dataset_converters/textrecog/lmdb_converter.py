#!/usr/bin/env python
"""Recognition label file + images -> LMDB: ``python tools/dataset_converters/textrecog/lmdb_converter.py --help``."""
import sys

from visioncraft.cli.converters import main_lmdb_converter as main
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textrecog/lmdb_converter.py')
