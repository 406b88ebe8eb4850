#!/usr/bin/env python
"""Evaluate a checkpoint, PaddleOCR style:
``python tools/eval.py -c CONFIG.yml -o Global.checkpoints=CKPT [Key=Value ...]``.
"""
import sys

from visioncraft.cli.main import run_cli
from visioncraft.cli.paddle_tools import eval_main

if __name__ == '__main__':
    run_cli(eval_main, sys.argv[1:], 'tools/eval.py')
