#!/usr/bin/env python
"""Detect text, PaddleOCR style:
``python tools/infer_det.py -c CONFIG.yml -o Global.infer_img=IMG_OR_DIR Global.pretrained_model=CKPT``.
"""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.paddle_tools import infer_det_main

if __name__ == '__main__':
    run_cli(infer_det_main, sys.argv[1:], 'tools/infer_det.py')
