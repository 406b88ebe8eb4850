#!/usr/bin/env python
"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--out FILE.pkl] [--show-dir DIR] ...``."""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'test', sys.argv[1:], 'tools/test.py')
