#!/usr/bin/env python
"""Recognise words, PaddleOCR style:
``python tools/infer_rec.py -c CONFIG.yml -o Global.infer_img=IMG_OR_DIR Global.pretrained_model=CKPT``.
"""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'infer_rec', sys.argv[1:], 'tools/infer_rec.py')
