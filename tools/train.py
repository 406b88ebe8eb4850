#!/usr/bin/env python
"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp] ...``."""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'train', sys.argv[1:], 'tools/train.py')
