#!/usr/bin/env python
"""Plot training curves or time the iterations of runs (MMDetection's analyze_logs.py):

``python tools/analysis_tools/analyze_logs.py plot_curve LOG [LOG ...] [--keys loss_cls loss_bbox] [--legend ...]
[--title T] [--out curves.png|.svg] [--start-epoch N] [--eval-interval N]``

``python tools/analysis_tools/analyze_logs.py cal_train_time LOG [LOG ...] [--include-outliers]``

LOG is a run's ``scalars.json`` or a work dir (its newest ``scalars.json``). See docs/analysis_tools.md.
"""
import sys

from visioncraft.analysis.arguments import run_tool  # light: parses before anything heavy is imported
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(run_tool, 'analyze_logs', sys.argv[1:], 'tools/analysis_tools/analyze_logs.py')
