#!/usr/bin/env python
"""Inference speed of a checkpoint in images/s (MMDetection's benchmark.py):

``python tools/analysis_tools/benchmark.py CONFIG CHECKPOINT [--max-iter 2000] [--log-interval 50]
[--num-warmup 5] [--fuse-conv-bn] [--device auto] [--cfg-options KEY=VALUE ...]``

See docs/analysis_tools.md.
"""
import sys

from visioncraft.analysis.arguments import run_tool  # light: parses before torch is imported
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(run_tool, 'benchmark', sys.argv[1:], 'tools/analysis_tools/benchmark.py')
