#!/usr/bin/env python
"""Score every image of a predictions pickle and draw the best and the worst:
``python tools/analysis_tools/analyze_results.py CONFIG PREDICTION_PATH SHOW_DIR [--show] [--wait-time S]
[--topk 20] [--show-score-thr 0] [--cfg-options KEY=VALUE ...]``; writes SHOW_DIR/good/, SHOW_DIR/bad/ and
SHOW_DIR/scores.json.

See :mod:`visioncraft.analysis.results` and docs/analysis_tools.md.
"""
import sys

from visioncraft.analysis.results import main  # light: parses its flags before torch is imported
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:])
