"""Training logs: read ``scalars.json``, plot its curves, time its iterations (``analyze_logs.py``).

A run's ``<work_dir>/<timestamp>/vis_data/scalars.json`` (written by
:class:`~visioncraft.visualization.LocalVisBackend`) holds one JSON object per line:

* a **training** line every ``LoggerHook.interval`` iterations: ``lr``, ``base_lr``, ``time`` and ``data_time``
  (seconds per iteration, the mean over the interval), ``loss`` and every ``loss_*`` term, ``grad_norm`` when
  gradients are clipped, ``memory`` (MB) on CUDA, and the position ``epoch``, ``iter`` and ``step`` (= ``iter``);
* a **validation** line after every validation: the metrics (``coco/bbox_mAP``, ``icdar/hmean``, ``coco/AP``...;
  a metric name without a ``/`` gets ``val/``) and ``step``, which is the epoch for an epoch-based run and the
  iteration for an iteration-based one (the unit is worked out from the training line before it).

Nothing here imports torch: ``analyze_logs.py`` answers at once.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArgumentParser, UserError
from .plots import Panel, Series, format_number, save_figure

__all__ = ['LogError', 'RunLog', 'find_scalars', 'load_log', 'load_work_dir', 'resolve_key', 'curve_panels',
           'plot_curve', 'cal_train_time', 'build_parser', 'main', 'run']

#: the position fields of a training line (not curves of their own)
POSITION_KEYS = ('epoch', 'iter', 'step')


class LogError(UserError, ValueError):
    """A log that cannot be read, or a key / option that does not fit it; the message names the file."""


@dataclass
class RunLog:
    """One ``scalars.json``. ``train``: the training lines (with ``epoch`` / ``iter``), in file order. ``val``: the
    validation / test lines, each with ``_unit`` ('epoch', 'iter', or 'step' when no training line came before it)
    and ``_epoch`` (the epoch it belongs to, or None)."""
    path: Path
    name: str
    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)

    def train_keys(self) -> list[str]:
        return _keys(self.train)

    def val_keys(self) -> list[str]:
        return _keys(self.val)

    def keys(self) -> list[str]:
        return self.train_keys() + [k for k in self.val_keys() if k not in self.train_keys()]


def _keys(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for k, v in r.items():
            if k not in POSITION_KEYS and not k.startswith('_') and _is_number(v):
                seen.setdefault(k)
    return list(seen)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _value(v: Any) -> Any:
    """``'nan'`` / ``'inf'`` / ``'-inf'`` (how LocalVisBackend writes non-finite numbers) as floats."""
    if isinstance(v, str) and v.lower() in ('nan', 'inf', '-inf', 'infinity', '-infinity'):
        return float(v)
    return v


# -- reading --------------------------------------------------------------------------------------------------
def _has_training_lines(path: Path) -> bool:
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return any('"iter"' in line for line in f)
    except OSError:
        return False


def find_scalars(path: str | Path) -> Path:
    """``path`` itself when it is a file; for a folder (a work dir, or one run's timestamp folder) the newest
    ``scalars.json`` below it that holds training lines (else the newest one: a work dir where only
    ``visioncraft test`` ran). A missing path, or a folder without any, is a :class:`LogError`."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.exists():
        raise LogError(f'{p}: no such file or folder (give a scalars.json or a work dir)')
    found = sorted(p.rglob('scalars.json'), key=lambda f: (f.stat().st_mtime, str(f)), reverse=True)
    if not found:
        raise LogError(f'{p}: no scalars.json below this folder (a run writes WORK_DIR/TIMESTAMP/vis_data/'
                       f'scalars.json when its visualizer has a LocalVisBackend)')
    return next((f for f in found if _has_training_lines(f)), found[0])


def _run_name(path: Path) -> str:
    """The work dir's name for ``WORK_DIR/TIMESTAMP/vis_data/scalars.json``, else the file's folder."""
    parts = path.parts
    if len(parts) >= 4 and parts[-2] == 'vis_data':
        return parts[-4]
    return path.parent.name or path.stem


def load_log(path: str | Path, name: str | None = None) -> RunLog:
    """Read one ``scalars.json`` (or the newest one of a work dir, see :func:`find_scalars`). A line that is not
    a JSON object is a :class:`LogError` naming the file and the line."""
    file = find_scalars(path)
    log = RunLog(path=file, name=name or _run_name(file))
    last_train: dict | None = None
    with open(file, encoding='utf-8', errors='replace') as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LogError(f'{file}: line {n} is not JSON ({exc.msg}): {line[:80]!r}') from None
            if not isinstance(row, dict):
                raise LogError(f'{file}: line {n} is not a JSON object: {line[:80]!r}')
            row = {k: _value(v) for k, v in row.items()}
            if 'iter' in row:
                if not _is_number(row['iter']):
                    raise LogError(f'{file}: line {n}: "iter" must be a number, got {row["iter"]!r}')
                row.setdefault('epoch', None)
                log.train.append(row)
                last_train = row
                continue
            step = row.get('step')
            if not _is_number(step):
                raise LogError(f'{file}: line {n} has no numeric "step" (every scalars.json line has one)')
            row['_unit'], row['_epoch'] = _metric_unit(step, last_train)
            log.val.append(row)
    return log


def _metric_unit(step: float, last_train: dict | None) -> tuple[str, int | None]:
    """``(unit, epoch)`` of a validation line at ``step`` after the training line ``last_train``."""
    if last_train is None:
        return 'step', None
    epoch = last_train.get('epoch')
    if step == last_train['iter'] and step != epoch:
        return 'iter', epoch
    if _is_number(epoch) and step <= epoch:
        return 'epoch', int(step)
    return 'iter', epoch


def load_work_dir(work_dir: str | Path) -> RunLog:
    """Every training run of a work dir as one log: the ``scalars.json`` of each ``TIMESTAMP`` folder, oldest
    first, where a later run that starts at or before an earlier run's last iteration (a resumed run, or a new
    run after the earlier checkpoints were moved away) replaces the earlier lines from that iteration on.
    Folders without training lines (``visioncraft test``) are skipped. No training run at all: a log with no
    lines."""
    root = Path(work_dir)
    merged = RunLog(path=root, name=root.name)
    files = sorted(root.glob('*/vis_data/scalars.json'))
    for file in files:
        if not _has_training_lines(file):
            continue
        log = load_log(file, name=root.name)
        if not log.train:
            continue
        first = log.train[0]['iter']
        merged.val = [r for r in merged.val if _val_position(r, merged.train) < first]
        merged.train = [r for r in merged.train if r['iter'] < first]
        merged.train += log.train
        merged.val += log.val
        merged.path = file
    return merged


def _val_position(row: dict, train: list[dict]) -> float:
    """The iteration a validation line belongs to (for merging runs): its step when counted in iterations, else
    the last training iteration of its epoch."""
    if row['_unit'] == 'iter':
        return row['step']
    iters = [r['iter'] for r in train if r.get('epoch') is not None and r['epoch'] <= row['step']]
    return max(iters, default=0)


def resolve_key(log: RunLog, key: str) -> str:
    """The key of ``log`` that ``key`` names: the same key, or the one key whose last ``/``-part it is
    (``bbox_mAP`` is ``coco/bbox_mAP``, as MMDetection 2.x logs named it). Otherwise a :class:`LogError`
    naming the key, the file and the keys it has."""
    keys = log.keys()
    if key in keys:
        return key
    matches = [k for k in keys if k.rsplit('/', 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise LogError(f'{log.path}: key {key!r} is ambiguous: it could be {", ".join(matches)}; give one of them')
    import difflib
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ''
    raise LogError(f'{log.path}: no key {key!r}{hint} (keys available: {", ".join(keys) or "none"})')


# -- curves ---------------------------------------------------------------------------------------------------
_UNIT_LABEL = {'iter': 'iteration', 'epoch': 'epoch', 'step': 'step'}


def _series_points(log: RunLog, key: str, start_epoch: int, eval_interval: int) -> tuple[str, list, list]:
    """``(unit, xs, ys)`` of ``key`` (already resolved) in ``log``."""
    if key in log.train_keys():
        rows = [r for r in log.train if key in r and (r.get('epoch') is None or r['epoch'] >= start_epoch)]
        return 'iter', [r['iter'] for r in rows], [r[key] for r in rows]
    rows = [r for r in log.val if key in r]
    units = {r['_unit'] for r in rows}
    unit = 'epoch' if units == {'epoch'} else ('iter' if 'iter' in units else 'step')
    kept = []
    for i, r in enumerate(rows):
        epoch = r['_epoch']
        if epoch is not None and epoch < start_epoch:
            continue
        if eval_interval > 1:
            if unit == 'epoch' and (epoch - start_epoch) % eval_interval:
                continue
            if unit != 'epoch' and i % eval_interval:
                continue
        kept.append(r)
    if rows and not kept:
        at = ', '.join(format_number(r['step']) for r in rows[:10])
        raise LogError(f'{log.path}: no {key!r} value left with --start-epoch {start_epoch} --eval-interval '
                       f'{eval_interval} (it was logged at {unit}s {at})')
    return unit, [r['step'] for r in kept], [r[key] for r in kept]


def curve_panels(logs: list[RunLog], keys: list[str], *, legend: list[str] | None = None, start_epoch: int = 1,
                 eval_interval: int = 1) -> list[Panel]:
    """One panel per x unit (training keys by iteration; validation metrics by epoch for an epoch-based run),
    with one series per (log, key), in the order MMDetection labels them: log-major. ``legend`` (one label per
    series) replaces the default labels: the key, or ``NAME key`` when there are several logs."""
    if not keys:
        raise LogError('give at least one key to plot (--keys)')
    if start_epoch < 1 or eval_interval < 1:
        raise LogError(f'--start-epoch and --eval-interval must be >= 1, got {start_epoch} and {eval_interval}')
    n = len(logs) * len(keys)
    if legend is not None and len(legend) != n:
        raise LogError(f'--legend has {len(legend)} label(s) but {len(logs)} log(s) x {len(keys)} key(s) make {n} '
                       f'curves: give one label per curve, log by log')
    names = _distinct_names(logs)
    panels: dict[str, Panel] = {}
    panel_keys: dict[str, list[str]] = {}
    i = 0
    for log, name in zip(logs, names):
        for key in keys:
            real = resolve_key(log, key)
            unit, xs, ys = _series_points(log, real, start_epoch, eval_interval)
            label = legend[i] if legend else (real if len(logs) == 1 else f'{name} {real}')
            i += 1
            panels.setdefault(unit, Panel(xlabel=_UNIT_LABEL[unit])).series.append(Series(label, xs, ys))
            if real not in panel_keys.setdefault(unit, []):
                panel_keys[unit].append(real)
    for unit, panel in panels.items():
        panel.ylabel = ', '.join(panel_keys[unit]) if len(panel_keys[unit]) <= 3 else ''
        if len(panels) > 1:
            panel.title = f'by {_UNIT_LABEL[unit]}'
    return [panels[u] for u in ('iter', 'epoch', 'step') if u in panels]


def _distinct_names(logs: list[RunLog]) -> list[str]:
    names = [log.name for log in logs]
    if len(set(names)) == len(names):
        return names
    out, seen = [], {}
    for log, name in zip(logs, names):
        if names.count(name) > 1:  # the same work dir name: add the run's timestamp folder
            stamp = log.path.parent.parent.name if log.path.parent.name == 'vis_data' else str(len(out))
            name = f'{name}/{stamp}'
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f'{name}#{seen[name]}')
    return out


def plot_curve(logs: list[str | Path], keys: list[str], *, out: str | Path = 'curves.png', title: str = '',
               legend: list[str] | None = None, start_epoch: int = 1, eval_interval: int = 1) -> Path:
    """Plot ``keys`` of every log (``scalars.json`` files or work dirs) on one figure; write ``out`` (.png or
    .svg, see :func:`~visioncraft.analysis.plots.save_figure`). Returns the written file."""
    runs = [load_log(p) for p in logs]
    panels = curve_panels(runs, keys, legend=legend, start_epoch=start_epoch, eval_interval=eval_interval)
    return save_figure(panels, out, title)


# -- timing ---------------------------------------------------------------------------------------------------
def cal_train_time(log: str | Path | RunLog, include_outliers: bool = False) -> dict[str, Any]:
    """Iteration times of a run from its ``time`` key (seconds per iteration, each training line the mean over
    the logging interval). Without ``include_outliers`` the first line of every epoch is left out (it carries the
    data loader's start-up), unless it is the epoch's only line.

    Returns ``dict(average=s/iter, std_over_epochs=..., slowest_epoch=(epoch, s/iter), fastest_epoch=(...),
    slowest_iter=(iteration, s/iter), fastest_iter=(...), epochs={epoch: s/iter}, lines=number used)``."""
    run = log if isinstance(log, RunLog) else load_log(log)
    rows = [r for r in run.train if _is_number(r.get('time')) and math.isfinite(r['time'])]
    if not rows:
        raise LogError(f'{run.path}: no "time" values in the training lines (the IterTimerHook logs them: keep '
                       f'default_hooks.timer); keys available: {", ".join(run.keys()) or "none"}')
    by_epoch: dict[Any, list[dict]] = {}
    for r in rows:
        by_epoch.setdefault(r.get('epoch'), []).append(r)
    used: list[dict] = []
    epochs: dict[Any, float] = {}
    for epoch, group in by_epoch.items():
        if not include_outliers and len(group) > 1:
            group = group[1:]
        used += group
        epochs[epoch] = sum(r['time'] for r in group) / len(group)
    means = list(epochs.values())
    avg_epoch = sum(means) / len(means)
    slow_e = max(epochs, key=lambda e: epochs[e])
    fast_e = min(epochs, key=lambda e: epochs[e])
    slow_i = max(used, key=lambda r: r['time'])
    fast_i = min(used, key=lambda r: r['time'])
    return dict(average=sum(r['time'] for r in used) / len(used),
                std_over_epochs=math.sqrt(sum((m - avg_epoch) ** 2 for m in means) / len(means)),
                slowest_epoch=(slow_e, epochs[slow_e]), fastest_epoch=(fast_e, epochs[fast_e]),
                slowest_iter=(slow_i['iter'], slow_i['time']), fastest_iter=(fast_i['iter'], fast_i['time']),
                epochs=epochs, lines=len(used))


def format_train_time(path: Path, t: dict[str, Any]) -> str:
    lines = [f'-----Analyze train time of {path}-----',
             f'slowest epoch {t["slowest_epoch"][0]}, average time is {t["slowest_epoch"][1]:.4f} s/iter',
             f'fastest epoch {t["fastest_epoch"][0]}, average time is {t["fastest_epoch"][1]:.4f} s/iter',
             f'time std over epochs is {t["std_over_epochs"]:.4f}',
             f'slowest logged iteration {t["slowest_iter"][0]}: {t["slowest_iter"][1]:.4f} s/iter',
             f'fastest logged iteration {t["fastest_iter"][0]}: {t["fastest_iter"][1]:.4f} s/iter',
             f'average iter time: {t["average"]:.4f} s/iter (over {t["lines"]} logged interval(s))']
    return '\n'.join(lines)


# -- command line ---------------------------------------------------------------------------------------------
def build_parser(prog: str = 'tools/analysis_tools/analyze_logs.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Plot training curves or time the iterations of runs, from their '
                                              'scalars.json (or work dirs: the newest scalars.json inside).')
    sub = p.add_subparsers(dest='task', required=True, metavar='{plot_curve,cal_train_time}')
    plot = sub.add_parser('plot_curve', help='plot keys of one or more runs on one figure')
    plot.add_argument('json_logs', nargs='+', metavar='LOG', help='scalars.json files or work dirs')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help='keys to plot (default: loss); a metric may be named without its prefix (bbox_mAP '
                           'for coco/bbox_mAP)')
    plot.add_argument('--start-epoch', type=int, default=1, help='leave out the epochs before this one')
    plot.add_argument('--eval-interval', type=int, default=1,
                      help='plot the validation results of every N-th epoch from --start-epoch on')
    plot.add_argument('--title', default='', help='title of the figure')
    plot.add_argument('--legend', nargs='+', default=None,
                      help='one label per curve, log by log (default: the key, or "WORK_DIR key" with several logs)')
    plot.add_argument('--out', default='curves.png', help='the picture to write: .png or .svg (default: curves.png)')
    times = sub.add_parser('cal_train_time', help='average / slowest / fastest iteration time of runs')
    times.add_argument('json_logs', nargs='+', metavar='LOG', help='scalars.json files or work dirs')
    times.add_argument('--include-outliers', action='store_true',
                       help="count each epoch's first logged interval too (left out by default)")
    return p


def run(args: argparse.Namespace) -> Any:
    """Run the parsed ``args``: the written figure's path (plot_curve) or the timings, one dict per log."""
    if args.task == 'plot_curve':
        out = plot_curve(args.json_logs, args.keys, out=args.out, title=args.title, legend=args.legend,
                         start_epoch=args.start_epoch, eval_interval=args.eval_interval)
        print(f'curves of {", ".join(args.keys)} written to {out}')
        return out
    results = []
    for path in args.json_logs:
        log = load_log(path)
        t = cal_train_time(log, include_outliers=args.include_outliers)
        print(format_train_time(log.path, t) + '\n')
        results.append(t)
    return results


def main(argv: list[str] | None = None, prog: str = 'tools/analysis_tools/analyze_logs.py') -> Any:
    return run(build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv))
