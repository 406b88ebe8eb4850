#!/usr/bin/env python
"""PaddleOCR-style text detection with an exported model: ``python tools/infer/predict_det.py
--det_algorithm=DB --det_model_dir=DIR --image_dir=IMG_OR_DIR --use_gpu=False [--det_db_thresh ...]``."""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'predict_det', sys.argv[1:], 'tools/infer/predict_det.py')
