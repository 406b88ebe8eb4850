#!/usr/bin/env python
"""Draw what the data pipeline of a config feeds the model, with its ground truth:
``python tools/analysis_tools/browse_dataset.py CONFIG [--output-dir DIR] [--not-show] [--show-interval S]
[--max-samples N] [--phase train|val|test] [--mode original|transformed] [--cfg-options KEY=VALUE ...]``.

See :mod:`visioncraft.analysis.browse` and docs/analysis_tools.md.
"""
import sys

from visioncraft.analysis.browse import main  # light: parses its flags before torch is imported
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:])
