#!/usr/bin/env python
"""Recognise words, PaddleOCR style:
``python tools/infer_rec.py -c CONFIG.yml -o Global.infer_img=IMG_OR_DIR Global.pretrained_model=CKPT``.
"""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.paddle_tools import infer_rec_main

if __name__ == '__main__':
    run_cli(infer_rec_main, sys.argv[1:], 'tools/infer_rec.py')
