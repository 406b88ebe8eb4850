#!/usr/bin/env python
"""Detection confusion matrix (with MMDetection's background row and column) of a predictions pickle:
``python tools/analysis_tools/confusion_matrix.py CONFIG PREDICTION_PATH SAVE_DIR [--score-thr 0.3]
[--tp-iou-thr 0.5] [--nms-iou-thr IOU] [--show] [--color-theme plasma] [--cfg-options KEY=VALUE ...]``;
writes SAVE_DIR/confusion_matrix.png and SAVE_DIR/confusion_matrix.json (the counts).

See :mod:`visioncraft.analysis.confusion` and docs/analysis_tools.md.
"""
import sys

from visioncraft.analysis.confusion import main  # light: parses its flags before torch is imported
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(main, sys.argv[1:])
