"""``visioncraft report WORK_DIR``: one self-contained HTML page about a training run.

The page holds the run's loss / learning-rate / metric curves (inline SVG, drawn by :mod:`.plots`), the final and
best validation metrics (and the last test's, from ``TIMESTAMP/metrics.json``), the config and checkpoint it used,
and a grid of sample predictions. The pictures are the ones already in the work dir (what ``--show-dir`` and the
VisualizationHook wrote under ``WORK_DIR/TIMESTAMP/``), else the last checkpoint is run on the first N validation
images and they are drawn by the config's visualizer, ground truth next to prediction, as ``test --show-dir``
draws them. Everything is inside the file (pictures as base64 ``data:`` URIs, no external URL), so it can be
mailed or attached to a ticket as it is.
"""
from __future__ import annotations

import base64
import copy
import datetime
import html
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..apis.model_loading import build_model_with_weights
from ..config import Config
from ..data.collate import pseudo_collate
from ..engine.hooks.visualization_hook import sample_image
from ..errors import UserError
from ..fileio.checkpoint import checkpoint_candidates, read_last_checkpoint
from ..registry import DATASETS, VISUALIZERS, config_file_context, default_scope
from .logs import RunLog, load_work_dir
from .plots import Panel, Series, format_number, render_svg

__all__ = ['ReportError', 'build_report', 'find_config', 'find_checkpoint', 'metric_summary', 'report_panels',
           'existing_pictures', 'predicted_pictures', 'LOWER_IS_BETTER']

_logger = logging.getLogger('visioncraft')

#: a metric whose name has one of these words (split on ``/`` and ``_``) is better when lower
LOWER_IS_BETTER = frozenset({'loss', 'error', 'err', 'nme', 'epe', 'cer', 'wer', 'mse', 'mae', 'rmse', 'time'})
_PICTURE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')
_THUMB_SIDE = 512  # pictures larger than this (either side) are scaled down in the page


class ReportError(UserError, ValueError):
    """A work dir the report cannot be made of; the message names it."""


# -- what the work dir holds ----------------------------------------------------------------------------------
def _run_dirs(work_dir: Path) -> list[Path]:
    """The run folders (``TIMESTAMP/``, each with a ``TIMESTAMP.log`` or ``vis_data/``), oldest first."""
    return sorted(d for d in work_dir.iterdir()
                  if d.is_dir() and ((d / f'{d.name}.log').is_file() or (d / 'vis_data').is_dir()))


def find_config(work_dir: str | Path) -> Path | None:
    """The config the run used: the newest ``WORK_DIR/*.py`` dump the Runner writes (``<config name>.py``), else
    the newest run's ``vis_data/config.py``; None without either."""
    work_dir = Path(work_dir)
    dumps = sorted((p for p in work_dir.glob('*.py') if p.is_file()), key=lambda p: (p.stat().st_mtime, p.name))
    if dumps:
        return dumps[-1]
    for run in reversed(_run_dirs(work_dir)):
        if (run / 'vis_data' / 'config.py').is_file():
            return run / 'vis_data' / 'config.py'
    return None


def find_checkpoint(work_dir: str | Path) -> Path | None:
    """The checkpoint ``last_checkpoint`` names, else the newest ``epoch_N.pth`` / ``iter_N.pth``; None without
    one."""
    found = read_last_checkpoint(work_dir)[1]
    if found is not None:
        return found
    candidates = checkpoint_candidates(work_dir)
    return candidates[0] if candidates else None


def _lower_is_better(key: str) -> bool:
    words = set(key.lower().replace('/', '_').split('_'))
    return bool(words & LOWER_IS_BETTER)


def metric_summary(log: RunLog) -> list[dict[str, Any]]:
    """Per validation metric: ``dict(key, final, best, best_at, at_unit, lower_is_better)``; ``final`` is the
    last value, ``best`` the highest (the lowest for errors and losses, see :data:`LOWER_IS_BETTER`)."""
    out = []
    for key in log.val_keys():
        rows = [r for r in log.val if key in r and isinstance(r[key], (int, float)) and math.isfinite(r[key])]
        if not rows:
            continue
        lower = _lower_is_better(key)
        best = (min if lower else max)(rows, key=lambda r: r[key])
        out.append(dict(key=key, final=rows[-1][key], final_at=rows[-1]['step'], best=best[key],
                        best_at=best['step'], at_unit=best['_unit'], lower_is_better=lower))
    return out


def _test_metrics(work_dir: Path) -> tuple[Path, dict] | None:
    """The newest run's ``metrics.json`` (what ``visioncraft test`` writes), when there is one."""
    for run in reversed(_run_dirs(work_dir)):
        f = run / 'metrics.json'
        if f.is_file():
            try:
                data = json.loads(f.read_text(encoding='utf-8'))
            except (OSError, json.JSONDecodeError) as exc:
                _logger.warning(f'report: {f} is not readable JSON ({exc}); left out')
                continue
            if isinstance(data, dict):
                return f, {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return None


# -- curves ---------------------------------------------------------------------------------------------------
def report_panels(log: RunLog) -> list[tuple[str, Panel]]:
    """``(title, panel)`` per chart: the losses, the learning rate, the validation metrics, the iteration time
    and the other training scalars (grad_norm, memory...), each where the run logged any."""
    train_keys = log.train_keys()
    groups = [('Losses', [k for k in train_keys if 'loss' in k]),
              ('Learning rate', [k for k in train_keys if k == 'lr']),
              ('Time per iteration (s)', [k for k in train_keys if k in ('time', 'data_time')])]
    used = {k for _, keys in groups for k in keys} | {'base_lr'}
    groups.append(('Other training values', [k for k in train_keys if k not in used]))
    panels = []
    for title, keys in groups[:2]:
        if keys:
            panels.append((title, _train_panel(log, keys)))
    metrics = _val_panel(log)
    if metrics is not None:
        panels.append(('Validation metrics', metrics))
    for title, keys in groups[2:]:
        if keys:
            panels.append((title, _train_panel(log, keys)))
    return panels


def _train_panel(log: RunLog, keys: list[str]) -> Panel:
    panel = Panel(xlabel='iteration')
    for key in keys:
        rows = [r for r in log.train if key in r]
        panel.series.append(Series(key, [r['iter'] for r in rows], [r[key] for r in rows]))
    return panel


def _val_panel(log: RunLog) -> Panel | None:
    units = {r['_unit'] for r in log.val}
    if not units:
        return None
    unit = 'epoch' if units == {'epoch'} else ('iteration' if 'iter' in units else 'step')
    panel = Panel(xlabel=unit)
    for key in log.val_keys():
        rows = [r for r in log.val if key in r]
        ys = [r[key] for r in rows]
        if all(y == -1 for y in ys):  # COCO's "no object of this size": nothing to plot
            continue
        panel.series.append(Series(key, [r['step'] for r in rows], ys))
    return panel if panel.series else None


# -- pictures -------------------------------------------------------------------------------------------------
def _encode(img_bgr: np.ndarray) -> tuple[str, str]:
    """``(mime type, base64 text)`` of a BGR picture scaled down to :data:`_THUMB_SIDE` at most: PNG or JPEG
    (quality 90), whichever is smaller (drawings on flat backgrounds: PNG; photographs: JPEG)."""
    import cv2  # OpenCV loads when a picture is encoded, not with the module
    h, w = img_bgr.shape[:2]
    if max(h, w) > _THUMB_SIDE:
        f = _THUMB_SIDE / max(h, w)
        img_bgr = cv2.resize(img_bgr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    img_bgr = np.ascontiguousarray(img_bgr)
    encoded = []
    for ext, mime, params in (('.png', 'image/png', []), ('.jpg', 'image/jpeg', [cv2.IMWRITE_JPEG_QUALITY, 90])):
        ok, buf = cv2.imencode(ext, img_bgr, params)
        if ok:
            encoded.append((len(buf), mime, buf))
    if not encoded:
        raise ValueError('OpenCV could not encode a picture')
    _, mime, buf = min(encoded, key=lambda e: e[0])
    return mime, base64.b64encode(buf.tobytes()).decode('ascii')


def existing_pictures(work_dir: str | Path, limit: int) -> tuple[list[tuple[str, str, str]], Path | None]:
    """Up to ``limit`` pictures from the newest run folder that has any (below ``WORK_DIR/TIMESTAMP/``: the
    test ``--show-dir`` folder, ``vis_data/vis_image/``...), by name: ``([(caption, mime, base64)], folder)``."""
    import cv2  # OpenCV loads when a picture is read, not with the module
    work_dir = Path(work_dir)
    for run in reversed(_run_dirs(work_dir)):
        files = sorted((p for p in run.rglob('*') if p.suffix.lower() in _PICTURE_SUFFIXES and p.is_file()),
                       key=lambda p: (len(p.relative_to(run).parts), str(p.relative_to(run))))
        out = []
        for f in files:
            if len(out) >= limit:
                break
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                _logger.warning(f'report: {f} is not a readable picture; left out')
                continue
            out.append((str(f.relative_to(work_dir)), *_encode(img)))
        if out:
            return out, run
    return [], None


def _score_thr(cfg) -> float:
    """The drawing threshold of the config's VisualizationHook (what ``test --show-dir`` uses), else 0.3."""
    vis = (cfg.get('default_hooks') or {}).get('visualization') or {}
    thr = vis.get('score_thr', 0.3) if hasattr(vis, 'get') else 0.3
    return float(thr) if isinstance(thr, (int, float)) and not isinstance(thr, bool) else 0.3


def predicted_pictures(config: Path, checkpoint: Path | None, limit: int,
                       device: str = 'cpu') -> list[tuple[str, str, str]]:
    """Run ``checkpoint`` on the first ``limit`` images of the config's validation set (else its test set) and
    draw them with the config's visualizer (ground truth and prediction): ``[(caption, mime, base64)]``."""
    cfg = Config.fromfile(config)
    phase = 'val_dataloader' if cfg.get('val_dataloader') else 'test_dataloader'
    loader = cfg.get(phase)
    if not loader or not (loader.get('dataset') if hasattr(loader, 'get') else None):
        raise ReportError(f'{config}: no val_dataloader / test_dataloader dataset to draw sample predictions from')
    with config_file_context(str(config)), default_scope(cfg.get('default_scope')):
        model, meta = build_model_with_weights(cfg, str(checkpoint) if checkpoint else None, 'visioncraft report')
        model.to(device).eval()
        dataset = DATASETS.build(copy.deepcopy(loader['dataset']), key_path=f'{phase}.dataset')
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        vis_cfg = copy.deepcopy(cfg.get('visualizer') or dict(type='Visualizer'))
        vis_cfg = dict(vis_cfg.to_dict() if hasattr(vis_cfg, 'to_dict') else vis_cfg)
        vis_cfg['vis_backends'] = []  # draw only: nothing is written into the work dir
        vis_cfg.pop('save_dir', None)
        visualizer = VISUALIZERS.build(vis_cfg, key_path='visualizer')
        dataset_meta = (meta or {}).get('dataset_meta') or getattr(dataset, 'metainfo', None) or {}
        visualizer.dataset_meta = dict(dataset_meta)
        thr = _score_thr(cfg)
        items = [dataset[i] for i in range(min(limit, len(dataset)))]
        out = []
        for start in range(0, len(items), 4):
            batch = pseudo_collate(items[start:start + 4])
            with torch.no_grad():
                results = model.test_step(batch)
            for i, sample in enumerate(results):
                img = sample_image(sample, batch, i)  # RGB
                if img is None:
                    continue
                drawn = visualizer.draw_sample(img, sample, pred_score_thr=thr)
                name = Path(sample.metainfo.get('img_path') or f'sample_{start + i}').name
                out.append((name, *_encode(np.ascontiguousarray(drawn[..., ::-1]))))
    return out


# -- the page -------------------------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}.meta td{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0;max-width:310px}
.grid img{max-width:310px;height:auto;border:1px solid #ccc}.grid figcaption{font-size:12px;color:#555}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}.note{color:#666;font-size:13px}
figure.chart{margin:0 0 16px 0}figure.chart svg{max-width:100%;height:auto}
"""


def _fmt(v: Any) -> str:
    return format_number(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else html.escape(str(v))


def _metric_value(v: float) -> str:
    return f'{v:.4f}' if isinstance(v, float) and math.isfinite(v) and not float(v).is_integer() else _fmt(v)


def build_report(work_dir: str | Path, out: str | Path | None = None, *, num_samples: int = 8,
                 device: str = 'cpu', log: Callable[[str], Any] = _logger.info) -> Path:
    """Write the HTML report of ``work_dir`` to ``out`` (default ``WORK_DIR/report.html``); returns its path.

    ``num_samples``: pictures in the sample grid (0: none). ``device``: where the checkpoint runs when the
    pictures have to be drawn (no pictures in the work dir). A missing or empty work dir is a
    :class:`ReportError`; a work dir without a checkpoint or config still gets its curves and tables."""
    wd = Path(work_dir)
    if not wd.is_dir():
        raise ReportError(f'{wd}: no such work dir' if not wd.exists() else f'{wd}: not a folder (give a work dir)')
    if num_samples < 0:
        raise ReportError(f'--num-samples must be >= 0, got {num_samples}')
    history = load_work_dir(wd)
    config, checkpoint = find_config(wd), find_checkpoint(wd)
    test = _test_metrics(wd)
    if not history.train and not history.val and test is None:
        raise ReportError(f'{wd}: no training log (TIMESTAMP/vis_data/scalars.json) and no test metrics '
                          f'(TIMESTAMP/metrics.json): is this a work dir?')
    out = Path(out) if out else wd / 'report.html'

    pictures, picture_note = [], ''
    if num_samples:
        pictures, folder = existing_pictures(wd, num_samples)
        if pictures:
            picture_note = f'Pictures already in the work dir ({html.escape(str(folder.relative_to(wd)))}/).'
        elif config is None:
            picture_note = 'No pictures in the work dir and no config to draw predictions with.'
        else:
            log(f'report: drawing predictions of {checkpoint or "a randomly initialised model"} on '
                f'{num_samples} validation image(s)')
            pictures = predicted_pictures(config, checkpoint, num_samples, device)
            picture_note = (f'Predictions of {html.escape(checkpoint.name if checkpoint else "an untrained model")}'
                            f' on the first {len(pictures)} validation image(s) (ground truth and prediction).')

    esc = html.escape
    parts = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
             f'<title>{esc(wd.name)}: training report</title>', f'<style>{_CSS}</style></head><body>',
             f'<h1>{esc(wd.name)}</h1>',
             f'<p class="note">VisionCraft report, generated {datetime.datetime.now():%Y-%m-%d %H:%M}</p>',
             '<table class="meta">',
             f'<tr><td>Work dir</td><td>{esc(str(wd.resolve()))}</td></tr>',
             f'<tr><td>Config</td><td>{esc(str(config.resolve())) if config else "(no config dump found)"}</td></tr>',
             f'<tr><td>Checkpoint</td><td>{esc(str(checkpoint.resolve())) if checkpoint else "(none)"}</td></tr>',
             f'<tr><td>Runs</td><td>{esc(", ".join(d.name for d in _run_dirs(wd)) or "(none)")}</td></tr>']
    if history.train:
        last = history.train[-1]
        epoch = f', epoch {last["epoch"]}' if last.get('epoch') is not None else ''
        parts.append(f'<tr><td>Trained</td><td>{last["iter"]} iterations{epoch}</td></tr>')
    parts.append('</table>')

    summary = metric_summary(history)
    parts.append('<h2>Validation metrics</h2>')
    if summary:
        parts.append('<table class="metrics"><tr><th>metric</th><th>final</th><th>best</th><th>best at</th></tr>')
        for m in summary:
            unit = {'iter': 'iteration', 'epoch': 'epoch'}.get(m['at_unit'], 'step')
            arrow = ' (lower is better)' if m['lower_is_better'] else ''
            parts.append(f'<tr><td>{esc(m["key"])}{arrow}</td><td>{_metric_value(m["final"])}</td>'
                         f'<td>{_metric_value(m["best"])}</td><td>{unit} {_fmt(m["best_at"])}</td></tr>')
        parts.append('</table>')
    else:
        parts.append('<p class="note">No validation results were logged.</p>')
    if test is not None:
        path, metrics = test
        parts.append(f'<h2>Test metrics</h2><p class="note">{esc(str(path.relative_to(wd)))}</p>')
        parts.append('<table class="test-metrics"><tr><th>metric</th><th>value</th></tr>')
        parts += [f'<tr><td>{esc(k)}</td><td>{_metric_value(v)}</td></tr>' for k, v in metrics.items()]
        parts.append('</table>')

    parts.append('<h2>Curves</h2>')
    panels = report_panels(history)
    if not panels:
        parts.append('<p class="note">No training values were logged.</p>')
    for title, panel in panels:
        parts.append(f'<figure class="chart">{render_svg([panel], title, standalone=False)}</figure>')

    if num_samples:
        parts.append(f'<h2>Sample predictions</h2><p class="note">{picture_note}</p><div class="grid">')
        for caption, mime, data in pictures:
            parts.append(f'<figure><img src="data:{mime};base64,{data}" alt="{esc(caption)}">'
                         f'<figcaption>{esc(caption)}</figcaption></figure>')
        parts.append('</div>')

    if config is not None:
        try:
            text = config.read_text(encoding='utf-8', errors='replace')
        except OSError:
            text = ''
        if text:
            parts.append(f'<h2>Config</h2><details><summary>{esc(config.name)}</summary><pre>{esc(text)}</pre>'
                         f'</details>')
    parts.append('</body></html>')
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(parts) + '\n', encoding='utf-8')
    return out
