#!/usr/bin/env python
"""Export an inference model, PaddleOCR style:
``python tools/export_model.py -c CONFIG.yml -o Global.pretrained_model=CKPT Global.save_inference_dir=DIR``.
"""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.paddle_tools import export_main

if __name__ == '__main__':
    run_cli(export_main, sys.argv[1:], 'tools/export_model.py')
