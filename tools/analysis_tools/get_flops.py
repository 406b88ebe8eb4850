#!/usr/bin/env python
"""MACs, FLOPs and parameters of a config's model (MMDetection's get_flops.py):

``python tools/analysis_tools/get_flops.py CONFIG [--shape H [W]] [--cfg-options KEY=VALUE ...]``

See docs/analysis_tools.md.
"""
import sys

from visioncraft.analysis.arguments import run_tool  # light: parses before torch is imported
from visioncraft.cli.main import run_cli

if __name__ == '__main__':
    run_cli(run_tool, 'get_flops', sys.argv[1:], 'tools/analysis_tools/get_flops.py')
