"""``make compat``, part 1: the configs bundled in the upstream wheels (mmdet, mmpose, mmocr; see scope.py), each
loaded, built and run forward once by this repository's code, counted per toolbox and model family, and compared
with tools/compat/baseline.json (the counts may only go up).

    python tools/compat/upstream.py [--toolbox mmdet ...] [--limit N] [--jobs 2] [--md FILE] [--update-baseline]

The wheels come from wheels.py (``pip download --no-deps`` into ``~/.cache/visioncraft/compat``, never installed).
The configs are checked by check_configs.py in a few worker processes (``--jobs`` at a time, each with a time
limit), which print one JSON line per config. ``--limit N`` checks an evenly spread sample of N configs per toolbox
(a quick look; the baseline is then neither compared nor written). Exit status 1 on a regression against the
baseline, 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import scope  # noqa: E402
import wheels  # noqa: E402

BASELINE = HERE / 'baseline.json'
STAGES = ('loaded', 'built', 'forward', 'trained')   # 'trained': of the TRAIN_CASES configs only

__all__ = ['family_of', 'sample', 'tabulate', 'compare', 'run_batches', 'format_table']


def family_of(path: str) -> str:
    """The model family of a config path: its folder (``faster_rcnn``, ``textdet/dbnet``,
    ``body_2d_keypoint/topdown_heatmap/coco``)."""
    parent = path.rsplit('/', 1)[0] if '/' in path else '.'
    return parent


def sample(paths: list[str], limit: int | None) -> list[str]:
    """``limit`` paths spread evenly over ``paths`` (all of them when ``limit`` is None or not smaller)."""
    if limit is None or limit >= len(paths):
        return list(paths)
    if limit <= 0:
        return []
    step = len(paths) / limit
    return [paths[int(i * step)] for i in range(limit)]


def tabulate(results: dict[str, list[dict]]) -> dict:
    """``{toolbox: {family: {'total': n, 'loaded': n, 'built': n, 'forward': n}}}`` from the worker lines; a
    family ``*`` holds the toolbox's totals."""
    out: dict = {}
    for toolbox, rows in results.items():
        fams: dict = {}
        for row in rows:
            for fam in (family_of(row['path']), '*'):
                c = fams.setdefault(fam, dict(total=0, loaded=0, built=0, forward=0, trained=0, train_tried=0))
                c['total'] += 1
                for stage in STAGES:
                    c[stage] += bool(row.get(stage))
                c['train_tried'] += row.get('trained') is not None
        out[toolbox] = dict(sorted(fams.items()))
    return out


def compare(baseline: dict, counts: dict) -> list[str]:
    """The regressions: every (toolbox, family, stage) count of ``baseline`` that ``counts`` is below, one line
    each. A family or toolbox missing from ``counts`` counts as 0 (it vanished)."""
    out = []
    for toolbox, fams in sorted(baseline.items()):
        for fam, want in sorted(fams.items()):
            have = counts.get(toolbox, {}).get(fam, {})
            for stage in STAGES:
                if have.get(stage, 0) < want.get(stage, 0):
                    out.append(f'{toolbox} {fam}: {stage} {have.get(stage, 0)} < baseline {want.get(stage, 0)}')
    return out


def _pct(n: int, d: int) -> str:
    return f'{100.0 * n / d:.0f} %' if d else '-'


def format_table(counts: dict) -> str:
    """Markdown: one row per toolbox and family, the toolbox total in bold."""
    lines = ['| toolbox | family | configs | loaded | built | forward | trained (tried) |',
             '|---|---|---|---|---|---|---|']
    for toolbox, fams in counts.items():
        for fam, c in fams.items():
            cells = [f'{c[s]} ({_pct(c[s], c["total"])})' for s in STAGES[:3]]
            cells.append(f'{c.get("trained", 0)} ({c.get("train_tried", 0)})')
            if fam == '*':
                lines.append(f'| **{toolbox}** | **all** | **{c["total"]}** | ' + ' | '.join(f'**{x}**' for x in cells)
                             + ' |')
            else:
                lines.append(f'| {toolbox} | {fam} | {c["total"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _run_batch(root: Path, toolbox: str, rels: list[str], timeout: float, train: bool = False) -> list[dict]:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, str(HERE / 'check_configs.py'), str(root), *rels, '--toolbox', toolbox, '--jsonl']
    if train:
        cmd.append('--train')
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        stdout, stderr, why = proc.stdout, proc.stderr, f'worker exit {proc.returncode}'
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or '')
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or '')
        why = f'worker batch over {timeout:.0f} s'
    rows = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith('{'):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows[row.get('path')] = row
    last = (stderr.strip().splitlines() or [''])[-1][:300]
    return [rows.get(rel) or dict(path=rel, loaded=False, built=False, forward=False, stage='worker',
                                  error=f'{why}: {last}') for rel in rels]


def run_batches(root: Path, toolbox: str, rels: list[str], *, train: tuple[str, ...] = (), jobs: int = 2,
                batches_per_job: int = 2, timeout: float = 1800, log=print) -> list[dict]:
    """Check ``rels`` (paths under ``root``) in ``jobs * batches_per_job`` worker processes, ``jobs`` at a
    time; the paths in ``train`` also train one iteration (a batch of their own)."""
    plain = [r for r in rels if r not in train]
    trained = [r for r in rels if r in train]
    batches: list[tuple[list[str], bool]] = []
    if plain:
        n = max(1, min(len(plain), jobs * batches_per_job))
        size = math.ceil(len(plain) / n)
        batches += [(plain[i:i + size], False) for i in range(0, len(plain), size)]
    if trained:
        batches.append((trained, True))
    out: list[dict] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, rows in enumerate(pool.map(lambda b: _run_batch(root, toolbox, b[0], timeout, b[1]), batches)):
            out += rows
            log(f'   {toolbox}: batch {i + 1}/{len(batches)} done ({sum(r["forward"] for r in rows)}/{len(rows)} '
                f'forward)')
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='tools/compat/upstream.py', description=__doc__.split('\n\n')[0])
    p.add_argument('--toolbox', nargs='+', choices=sorted(scope.TOOLBOXES), help='only these toolboxes')
    p.add_argument('--limit', type=int, help='check an evenly spread sample of N configs per toolbox (no baseline)')
    p.add_argument('--jobs', type=int, default=2, help='worker processes at a time (default: %(default)s)')
    p.add_argument('--batch-timeout', type=float, default=3600, help='seconds per worker batch (default: %(default)s)')
    p.add_argument('--no-train', action='store_true', help='skip the one-iteration training of TRAIN_CASES')
    p.add_argument('--baseline', default=str(BASELINE), help='the counts file (default: %(default)s)')
    p.add_argument('--update-baseline', action='store_true', help='write the counts of this run as the baseline')
    p.add_argument('--md', help='write the markdown summary to this file')
    p.add_argument('--json', help='write every config result (one JSON object) to this file')
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error('--jobs must be >= 1')
    if args.update_baseline and args.limit is not None:
        p.error('--update-baseline needs the full run (without --limit)')
    names = args.toolbox or list(scope.TOOLBOXES)
    results: dict[str, list[dict]] = {}
    excluded_all: dict[str, dict[str, str]] = {}
    t0 = time.time()
    for name in names:
        tb = scope.TOOLBOXES[name]
        root = wheels.configs_dir(tb.name, tb.version)
        chosen, excluded = scope.select(tb, wheels.list_configs(root))
        excluded_all[name] = excluded
        picked = sample(chosen, args.limit)
        train = tuple(c.config for c in scope.TRAIN_CASES if c.toolbox == name and c.config in chosen)
        if args.no_train:
            train = ()
        elif args.limit is not None:
            picked += [c for c in train if c not in picked]
        print(f'== {name} {tb.version}: {len(chosen)} configs in scope, {len(excluded)} excluded'
              + (f'; checking a sample of {len(picked)}' if len(picked) < len(chosen) else ''), flush=True)
        results[name] = run_batches(root, name, picked, train=train, jobs=args.jobs, timeout=args.batch_timeout,
                                    log=lambda m: print(m, flush=True))
    counts = tabulate(results)
    table = format_table(counts)
    minutes = (time.time() - t0) / 60
    print('\n' + table)
    failures = [(name, r) for name, rows in results.items() for r in rows if not r['forward']]
    for name, r in failures:
        print(f'  {name} {r["path"]}: {r.get("stage")}: {r.get("error", "")[:200]}')
    regressions: list[str] = []
    baseline_path = Path(args.baseline)
    if args.limit is not None:
        note = f'a sample (--limit {args.limit}): not compared with the baseline'
    elif args.update_baseline:
        old = json.loads(baseline_path.read_text()) if baseline_path.is_file() else {}
        old.update(counts)
        baseline_path.write_text(json.dumps(old, indent=1, sort_keys=True) + '\n')
        note = f'baseline written to {baseline_path}'
    elif baseline_path.is_file():
        baseline = json.loads(baseline_path.read_text())
        regressions = compare({k: v for k, v in baseline.items() if k in counts}, counts)
        note = f'{len(regressions)} regression(s) against {baseline_path.name}'
    else:
        note = f'no baseline at {baseline_path} (write one with --update-baseline)'
    print(f'\n{note}; {minutes:.1f} min')
    for line in regressions:
        print(f'REGRESSION {line}')
    if args.md:
        md = [f'## Upstream configs ({", ".join(f"{n} {scope.TOOLBOXES[n].version}" for n in names)})', '', table,
              f'{note}; {minutes:.1f} min.', '']
        if failures:
            md += ['| config | stage | error |', '|---|---|---|']
            md += [f'| {n}/{r["path"]} | {r.get("stage")} | {r.get("error", "")[:160].replace("|", "/")} |'
                   for n, r in failures]
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text('\n'.join(md) + '\n', encoding='utf-8')
    if args.json:
        Path(args.json).write_text(json.dumps(dict(results=results, excluded=excluded_all), indent=1))
    return 1 if regressions else 0


if __name__ == '__main__':
    sys.exit(main())
