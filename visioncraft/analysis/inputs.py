"""What the dataset and prediction analysis tools read: a config (with ``--cfg-options``), the dataset of one of its
phases (``train`` / ``val`` / ``test``), a predictions pickle and the ground truth of the samples it answers.

Importing this module is light (argparse and :mod:`visioncraft.errors`): the tools parse their arguments, and
answer ``--help``, before torch and the tasks load. The functions that need them import them when called.

Predictions pickles are what ``tools/test.py CONFIG CKPT --out results.pkl`` writes (``DumpResults``): a list in
dataset order, one ``DataSample.to_dict()`` per sample (per person for top-down pose), tensors on the CPU. The
ground truth is read from the dataset (``get_data_info(i)['instances']``, original-image pixels), as MMDetection's
analysis tools do, so a test pipeline without ``LoadAnnotations`` works too.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..argparsing import OverridesAction, add_cfg_options
from ..errors import UserError

__all__ = ['OverridesAction', 'add_cfg_options', 'add_prediction_args', 'read_config', 'config_scope',
           'dataset_config', 'build_dataset', 'load_predictions', 'check_predictions_fit', 'prediction_task',
           'output_name', 'TASKS']

#: what :func:`prediction_task` returns
TASKS = ('detection', 'textdet', 'textrecog', 'pose')


def add_prediction_args(parser: argparse.ArgumentParser) -> None:
    """The two positional arguments of the tools that read a predictions pickle: ``config`` and
    ``prediction_path``."""
    parser.add_argument('config', help='the config the predictions were made with')
    parser.add_argument('prediction_path', help='predictions pickle (tools/test.py CONFIG CKPT --out results.pkl)')


def read_config(path: str | os.PathLike, options: dict | None = None):
    """The config ``path`` with the overrides ``options``: a PaddleOCR-layout YAML is translated (``options`` are
    then its own keys), any other file is read by ``Config.fromfile``."""
    from ..config import Config  # deferred: loads torch
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    return Config.fromfile(path, cfg_options=options or None)


@contextlib.contextmanager
def config_scope(cfg) -> Iterator[None]:
    """Build things from ``cfg`` inside this block: its ``default_scope`` decides what names two toolboxes share
    mean (``'CocoDataset'`` in a pose config), and build errors name its file."""
    from ..registry import config_file_context, set_default_scope  # deferred: the registry imports the tasks lazily
    try:
        previous = set_default_scope(cfg.get('default_scope'))
    except ValueError as exc:
        raise UserError(f'{getattr(cfg, "filename", None) or "config"}: default_scope: {exc}') from None
    try:
        with config_file_context(getattr(cfg, 'filename', None)):
            yield
    finally:
        set_default_scope(previous)


def _plain(value: Any) -> Any:
    return value.to_dict() if hasattr(value, 'to_dict') else value


def dataset_config(cfg, phase: str) -> dict:
    """A copy of ``cfg.<phase>_dataloader.dataset`` (a dict), or a one-line error naming the file and the key."""
    where = getattr(cfg, 'filename', None) or 'config'
    key = f'{phase}_dataloader'
    loader = _plain(cfg.get(key))
    if not isinstance(loader, dict):
        raise UserError(f'{where}: {key}: missing (or not a dict); it is where the {phase} dataset is read from')
    dataset = _plain(loader.get('dataset'))
    if not isinstance(dataset, dict) or 'type' not in dataset:
        raise UserError(f"{where}: {key}.dataset must be a dataset config dict(type='...', ...), got "
                        f'{type(dataset).__name__}')
    return copy.deepcopy(dataset)


def build_dataset(cfg, phase: str, dataset_cfg: dict | None = None):
    """The dataset of ``cfg.<phase>_dataloader`` (or ``dataset_cfg``, an edited copy of it), fully loaded; an
    empty one is an error naming its annotation file and filter."""
    from ..data.validation import check_not_empty  # deferred: loads torch
    from ..registry import DATASETS  # deferred: the registry imports the tasks lazily
    key = f'{phase}_dataloader'
    ds_cfg = dataset_config(cfg, phase) if dataset_cfg is None else dataset_cfg
    with config_scope(cfg):
        dataset = DATASETS.build(ds_cfg, key_path=f'{key}.dataset')
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
    check_not_empty(dataset, key)
    return dataset


def load_predictions(path: str | os.PathLike) -> list[dict]:
    """The samples of a predictions pickle as plain dicts (``DataSample.to_dict()`` layout); MMDetection 2.x's
    per-image lists of per-class ``(n, 5)`` box arrays (``[x1, y1, x2, y2, score]``) become
    ``dict(pred_instances=dict(bboxes, scores, labels))``."""
    import numpy as np
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'predictions file not found: {path} (write one with tools/test.py CONFIG CKPT '
                                '--out results.pkl)')
    try:
        with open(path, 'rb') as f:
            data = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError) as exc:
        raise UserError(f'{path}: not a predictions pickle ({type(exc).__name__}: {exc}); write one with '
                        'tools/test.py CONFIG CKPT --out results.pkl') from None
    if not isinstance(data, (list, tuple)):
        raise UserError(f'{path}: a predictions pickle holds a list of samples (one per image), got '
                        f'{type(data).__name__}')
    out = []
    for i, item in enumerate(data):
        if hasattr(item, 'to_dict') and not isinstance(item, dict):
            item = item.to_dict()
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], list):
            item = item[0]  # MMDetection 2.x (bbox_results, segm_results): the boxes
        if isinstance(item, list) and all(hasattr(a, 'shape') and np.ndim(a) == 2 for a in item):
            arrays = [np.asarray(a, np.float32).reshape(-1, 5) for a in item]
            boxes = np.concatenate(arrays) if arrays else np.zeros((0, 5), np.float32)
            labels = np.concatenate([np.full(len(a), c, np.int64) for c, a in enumerate(arrays)]) if arrays \
                else np.zeros(0, np.int64)
            item = dict(pred_instances=dict(bboxes=boxes[:, :4], scores=boxes[:, 4], labels=labels))
        if not isinstance(item, dict):
            raise UserError(f'{path}: sample {i} is a {type(item).__name__}, not a dict of predictions '
                            '(DataSample.to_dict(), as tools/test.py --out writes)')
        out.append(item)
    if not out:
        raise UserError(f'{path}: holds no predictions (an empty list)')
    return out


def prediction_task(samples: Sequence[dict], path: str | os.PathLike) -> str:
    """Which task the predictions are of (one of :data:`TASKS`), from the fields of the first sample."""
    first = samples[0]
    pred = first.get('pred_instances')
    if pred is None and 'pred_text' in first:
        return 'textrecog'
    if isinstance(pred, dict) or hasattr(pred, 'keys'):
        keys = set(pred.keys())
        if 'polygons' in keys:
            return 'textdet'
        if 'keypoints' in keys:
            return 'pose'
        if 'bboxes' in keys:
            return 'detection'
    raise UserError(f'{os.fspath(path)}: sample 0 holds no predictions this tool knows (pred_instances with bboxes, '
                    f'polygons or keypoints, or pred_text); its keys: {sorted(first)}')


def check_predictions_fit(samples: Sequence[dict], dataset, pred_path: str | os.PathLike, cfg_path: str,
                          phase: str = 'test') -> None:
    """The pickle answers the dataset sample by sample: as many samples, and the same images where the
    predictions name theirs (``img_path``); else a one-line error naming both files."""
    if len(samples) != len(dataset):
        raise UserError(f'{os.fspath(pred_path)} holds {len(samples)} predictions but the {phase} dataset of '
                        f'{cfg_path} has {len(dataset)} samples: were they made with this config '
                        f'(tools/test.py {cfg_path} CKPT --out FILE.pkl)?')
    for i in (0, len(samples) // 2, len(samples) - 1):
        pred_img = samples[i].get('img_path')
        if not isinstance(pred_img, str):
            continue
        gt_img = dataset.get_data_info(i).get('img_path')
        if isinstance(gt_img, str) and Path(pred_img).name != Path(gt_img).name:
            raise UserError(f'{os.fspath(pred_path)}: sample {i} is a prediction for {pred_img} but sample {i} of '
                            f'the {phase} dataset of {cfg_path} is {gt_img}: were the predictions made with this '
                            'config?')


def output_name(img_path: Any, index: int, taken: set[str], suffix: str = '.jpg') -> str:
    """``<image name><suffix>`` for a picture of sample ``index``; ``<image name>_<index><suffix>`` when that
    name is in ``taken`` already (several people of one image, a repeated dataset). The name is added to
    ``taken``."""
    stem = Path(str(img_path)).stem if img_path else f'sample_{index}'
    stem = stem.split('#')[-1] or f'sample_{index}'  # an LMDB sample: lmdb://folder#image-000000001
    name = f'{stem}{suffix}'
    if name in taken:
        name = f'{stem}_{index}{suffix}'
    taken.add(name)
    return name
