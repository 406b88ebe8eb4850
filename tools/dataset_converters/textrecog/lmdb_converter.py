#!/usr/bin/env python
"""Recognition label file + images -> LMDB: ``python tools/dataset_converters/textrecog/lmdb_converter.py --help``."""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.tasks.textrecog.datasets.lmdb_dataset import main_lmdb_converter as main

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/dataset_converters/textrecog/lmdb_converter.py')
