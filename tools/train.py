#!/usr/bin/env python
"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp] ...``."""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.train import main

if __name__ == '__main__':
    run_cli(main, sys.argv[1:], 'tools/train.py')
