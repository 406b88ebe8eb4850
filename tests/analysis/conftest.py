"""Fixtures of the analysis tools' tests: a tiny real detection run, and a handwritten one."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import REPO, quickstart_det_options

DET_CONFIG = REPO / 'configs' / 'quickstart' / 'det_shapes.py'


@pytest.fixture(scope='session')
def tiny_det_run(tmp_path_factory) -> Path:
    """The work dir of a finished tiny detection run (configs/quickstart/det_shapes.py on 4 + 3 generated
    pictures: 2 epochs of 2 iterations, validation after each, every iteration logged). It holds the config dump
    ``det_shapes.py``, ``TIMESTAMP/vis_data/scalars.json``, ``epoch_1.pth``, ``epoch_2.pth`` and
    ``last_checkpoint``; the config's data paths point at the generated data next to it. Session-scoped: tests
    must not change it (copy it first)."""
    from visioncraft.cli.main import main as vc_main
    logger = logging.getLogger('visioncraft')
    handlers = list(logger.handlers)
    base = tmp_path_factory.mktemp('tiny_det_run')
    wd = base / 'work_dir'
    opts = quickstart_det_options(base / 'data') + [
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=2',
        'model.test_cfg.score_thr=0.0']  # an untrained model's scores are low: the metric should see boxes
    try:
        vc_main(['train', str(DET_CONFIG), '--work-dir', str(wd), '--cfg-options', *opts])
    finally:  # the run's log file handler: later tests must not write into this run's log
        for h in list(logger.handlers):
            if h not in handlers:
                logger.removeHandler(h)
                h.close()
    assert (wd / 'last_checkpoint').is_file() and (wd / 'det_shapes.py').is_file()
    return wd


def write_scalars(work_dir: Path, rows: list[dict], stamp: str = '20260101_000000') -> Path:
    """``work_dir/stamp/vis_data/scalars.json`` with ``rows`` (one JSON object per line), as LocalVisBackend
    writes it."""
    f = work_dir / stamp / 'vis_data' / 'scalars.json'
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return f


def handwritten_rows() -> list[dict]:
    """An epoch-based run: 2 epochs of 3 iterations, every iteration logged, a validation after each epoch."""
    times = [0.9, 0.5, 0.7, 0.8, 0.4, 0.6]
    rows = []
    for i in range(6):
        epoch, it = i // 3 + 1, i + 1
        rows.append(dict(base_lr=0.01, lr=0.01 * (it / 6), time=times[i], data_time=0.01, loss=2.0 - 0.2 * i,
                         loss_cls=1.2 - 0.1 * i, loss_bbox=0.8 - 0.1 * i, epoch=epoch, iter=it, step=it))
        if it % 3 == 0:
            rows.append({'coco/bbox_mAP': [0.25, 0.5][epoch - 1], 'coco/bbox_mAP_50': [0.5, 0.75][epoch - 1],
                         'pose/NME': [0.3, 0.2][epoch - 1], 'step': epoch})
    return rows


@pytest.fixture
def handwritten_run(tmp_path) -> Path:
    """A work dir holding only :func:`handwritten_rows`' scalars.json (no config, no checkpoint)."""
    wd = tmp_path / 'hand_run'
    write_scalars(wd, handwritten_rows())
    return wd
