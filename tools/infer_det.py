#!/usr/bin/env python
"""Detect text, PaddleOCR style:
``python tools/infer_det.py -c CONFIG.yml -o Global.infer_img=IMG_OR_DIR Global.pretrained_model=CKPT``.
"""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'infer_det', sys.argv[1:], 'tools/infer_det.py')
