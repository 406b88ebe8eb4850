#!/usr/bin/env python
"""PaddleOCR-style text detection with an exported model: ``python tools/infer/predict_det.py
--det_algorithm=DB --det_model_dir=DIR --image_dir=IMG_OR_DIR --use_gpu=False [--det_db_thresh ...]``."""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.ocr_predict import paddle_main

if __name__ == '__main__':
    run_cli(paddle_main, sys.argv[1:], 'tools/infer/predict_det.py')
