#!/usr/bin/env python
"""Evaluate a checkpoint, PaddleOCR style:
``python tools/eval.py -c CONFIG.yml -o Global.checkpoints=CKPT [Key=Value ...]``.
"""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'eval', sys.argv[1:], 'tools/eval.py')
