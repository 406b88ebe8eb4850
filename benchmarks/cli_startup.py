"""Start-up time of the command line: how long ``visioncraft --help``, each subcommand's ``--help`` (and with
``--tools`` each ``tools/*.py`` and ``demo/*.py --help``) take, against ``python -c 'import torch'``.

Each command runs N times (default 5) in a fresh interpreter, alternating the commands so machine noise hits them
all alike; prints the median wall-clock seconds of each and the ratio ``import visioncraft`` / ``import torch``.
Targets (the issue "a fast CLI"): ``visioncraft --help`` and every ``visioncraft COMMAND --help`` <= 1.0 s, and
``import visioncraft`` <= 1.3 x ``import torch``.

    python benchmarks/cli_startup.py [--runs 5] [--tools] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from visioncraft.cli.main import _COMMANDS  # noqa: E402  (light: argparse only)

COMMANDS = tuple(_COMMANDS)  # every `visioncraft` subcommand
HELP_TARGET_S = 1.0
IMPORT_RATIO_TARGET = 1.3


def _visioncraft() -> list[str]:
    """The ``visioncraft`` console script next to this Python, else ``python -m visioncraft.cli.main``."""
    script = Path(sys.executable).parent / 'visioncraft'
    if script.is_file():
        return [str(script)]
    found = shutil.which('visioncraft')
    return [found] if found else [sys.executable, '-m', 'visioncraft.cli.main']


def commands(with_tools: bool) -> dict[str, list[str]]:
    vc = _visioncraft()
    out = {'import torch': [sys.executable, '-c', 'import torch'],
           'import visioncraft': [sys.executable, '-c', 'import visioncraft'],
           'visioncraft --version': [*vc, '--version'],
           'visioncraft --help': [*vc, '--help']}
    out.update({f'visioncraft {c} --help': [*vc, c, '--help'] for c in COMMANDS})
    if with_tools:
        scripts = sorted([*REPO.glob('tools/*.py'), REPO / 'tools/infer/predict_det.py', *REPO.glob('demo/*.py')])
        out.update({f'{p.relative_to(REPO)} --help': [sys.executable, str(p), '--help'] for p in scripts})
    return out


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed with exit status {done.returncode}:\n{done.stderr[-2000:]}')
    return seconds


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=5, help='runs of each command (the median is reported)')
    p.add_argument('--tools', action='store_true', help='also time tools/*.py and demo/*.py --help')
    p.add_argument('--json', default=None, help='also write the medians to this JSON file')
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error('--runs must be at least 1')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    cmds = commands(args.tools)
    for cmd in cmds.values():  # warm the file cache (and fail early on a broken command)
        time_once(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            times[name].append(time_once(cmd, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    width = max(map(len, medians))
    print(f'{"command":<{width}}  median s  (min - max of {args.runs} runs)')
    for name, m in medians.items():
        flag = ''
        if name.endswith('--help') and name.startswith('visioncraft'):
            flag = '  ok' if m <= HELP_TARGET_S else f'  over the {HELP_TARGET_S:.1f} s target'
        print(f'{name:<{width}}  {m:8.3f}  ({min(times[name]):.3f} - {max(times[name]):.3f}){flag}')
    ratio = medians['import visioncraft'] / medians['import torch']
    print(f'import visioncraft / import torch = {ratio:.2f} (target <= {IMPORT_RATIO_TARGET})')
    result = dict(runs=args.runs, median_s=medians, import_ratio=ratio, python=sys.version.split()[0],
                  cpus=os.cpu_count())
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + '\n')
    return result


if __name__ == '__main__':
    main()
