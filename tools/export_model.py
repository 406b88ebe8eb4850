#!/usr/bin/env python
"""Export an inference model, PaddleOCR style:
``python tools/export_model.py -c CONFIG.yml -o Global.pretrained_model=CKPT Global.save_inference_dir=DIR``.
"""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported

if __name__ == '__main__':
    run_cli(run_command, 'export_model', sys.argv[1:], 'tools/export_model.py')
