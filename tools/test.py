#!/usr/bin/env python
"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--out FILE.pkl] [--show-dir DIR] ...``."""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.test import main

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/test.py')
