"""Check upstream MMDetection 3.x / MMPose 1.x / MMOCR 1.x config files against VisionCraft, unchanged.

For each config: **load** it with ``Config.fromfile``; **build** its model (pretrained downloads stripped) and run
one forward on a small random input (``mode='tensor'``); with ``--train``, **train** one iteration with the
Runner on a tiny generated dataset written where the config's ``train_dataloader`` looks (COCO detection /
instance JSON, COCO person keypoints, MMOCR 1.x ``textdet_*.json`` / ``textrecog_*.json``).

What the harness changes for the training step, and only there: ``data_root`` of each training dataset (the
generated data), batch size 2 and no worker processes, one epoch, no validation and no checkpoint file, a
``RepeatDataset``'s ``times`` (1: with random weights a few more steps of a warm-up-free recipe diverge), and the
scales of ``Resize`` / ``RandomResize`` / ``RandomChoiceResize`` in the training pipeline (to 160 x 128, so an
R-50 step takes seconds on a CPU; a scale already within 160 px, such as a recogniser's 100 x 32, is kept).
Everything else (model, pipeline steps, sampler, optimizer, hooks, runtime keys) is the file's own.

Usage::

    python tools/compat/check_configs.py CONFIGS_DIR PATTERN... [--train] [--toolbox mmdet] [--jsonl]

``PATTERN`` is a shell pattern under ``CONFIGS_DIR`` (``'faster_rcnn/*.py'``); ``_base_`` fragments are skipped.
The toolbox (``mmdet``, ``mmpose``, ``mmocr``) is taken from ``--toolbox`` or the folder name. Prints one line per
config (``--jsonl``: one JSON object each), then a table of load / build / train counts per toolbox.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import fnmatch
import io
import json
import logging
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

PER_CONFIG_TIMEOUT_S = int(os.environ.get('VISIONCRAFT_COMPAT_CONFIG_TIMEOUT', '300'))
TOOLBOXES = ('mmdet', 'mmpose', 'mmocr')
SMALL_SCALE = (160, 128)  # (w, h) of every training resize in the harness


def strip_pretrained(node) -> int:
    """Drop every pretrained download from a model config in place: ``init_cfg`` of type ``Pretrained`` (alone or in
    a list) and string ``pretrained=``. Returns the number of places changed."""
    changed = 0
    if isinstance(node, dict):
        for key in list(node.keys()):
            value = node[key]
            if key == 'init_cfg' and _is_pretrained(value):
                node[key] = None
                changed += 1
            elif key == 'pretrained' and isinstance(value, str):
                node[key] = None
                changed += 1
            else:
                changed += strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            changed += strip_pretrained(item)
    return changed


def _is_pretrained(value) -> bool:
    if isinstance(value, dict):
        return str(value.get('type', '')).split('.')[-1] == 'Pretrained' or 'checkpoint' in value
    if isinstance(value, (list, tuple)):
        return any(_is_pretrained(v) for v in value)
    return False


def input_shape(toolbox: str, path: str, cfg) -> tuple[int, int]:
    """(H, W) of the random input: the pose codec's input size, the text recogniser's resize scale, else 128 x 128."""
    if toolbox == 'mmpose':
        codec = cfg.get('codec')
        if isinstance(codec, dict) and 'input_size' in codec:
            w, h = codec['input_size'][:2]
            return int(h), int(w)
        return 256, 192
    if toolbox == 'mmocr' and 'textrecog' in path:
        for t in cfg.get('test_pipeline') or []:
            if isinstance(t, dict) and t.get('type') == 'Resize' and t.get('scale'):
                w, h = t['scale'][:2]
                return int(h), int(w)
        return 32, 128
    return 128, 128


def input_channels(cfg) -> int:
    """1 when the test pipeline loads images in grey (MMOCR's CRNN: ``color_type='grayscale'``), else 3."""
    for t in cfg.get('test_pipeline') or []:
        if isinstance(t, dict) and str(t.get('type', '')).endswith('LoadImageFromFile') \
                and t.get('color_type') == 'grayscale':
            return 1
    return 3


# -- tiny stand-in data -------------------------------------------------------------------------------------------
def _write_image(path: Path, h: int, w: int, seed: int) -> None:
    import cv2
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def _img_dir(ds: dict, root: Path) -> Path:
    prefix = ds.get('data_prefix') or {}
    sub = prefix.get('img') or prefix.get('img_path') or ''
    return root / sub


def _coco_det(ds: dict, root: Path, keypoints: bool, num_keypoints: int = 17) -> None:
    img_dir = _img_dir(ds, root)
    images, anns = [], []
    for i in range(2):
        h, w = 128, 160
        name = f'{i:06d}.jpg'
        _write_image(img_dir / name, h, w, i)
        images.append(dict(id=i + 1, file_name=name, height=h, width=w))
        x, y, bw, bh = 20 + 10 * i, 16, 80, 96
        ann = dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[x, y, bw, bh], area=bw * bh, iscrowd=0,
                   segmentation=[[x, y, x + bw, y, x + bw, y + bh, x, y + bh]])
        if keypoints:
            kpts = []
            rng = np.random.default_rng(i)
            for _ in range(num_keypoints):
                kpts += [float(x + rng.uniform(0, bw)), float(y + rng.uniform(0, bh)), 2]
            ann.update(keypoints=kpts, num_keypoints=num_keypoints)
        anns.append(ann)
    cats = [dict(id=1, name='person', supercategory='person')]
    if not keypoints:  # every class of the config's metainfo, so the category mapping is complete
        classes = (ds.get('metainfo') or {}).get('classes')
        if not classes:
            from visioncraft.registry import DATASETS, default_scope
            with default_scope('mmdet'):
                classes = getattr(DATASETS.get(str(ds.get('type'))), 'METAINFO', {}).get('classes')
        if classes:
            cats = [dict(id=k + 1, name=c) for k, c in enumerate(classes)]
    else:
        cats[0].update(keypoints=[f'k{k}' for k in range(num_keypoints)], skeleton=[])
    ann_path = root / ds['ann_file']
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    ann_path.write_text(json.dumps(dict(images=images, annotations=anns, categories=cats)))


def _voc(ds: dict, root: Path) -> None:
    """Pascal VOC devkit files: ``<sub_data_root>/JPEGImages/<id>.jpg``, ``Annotations/<id>.xml`` (one object of
    the config's first class) and the ``ann_file`` id list."""
    sub = root / ((ds.get('data_prefix') or {}).get('sub_data_root') or '')
    classes = (ds.get('metainfo') or {}).get('classes')
    if not classes:
        from visioncraft.registry import DATASETS, default_scope
        with default_scope('mmdet'):
            classes = getattr(DATASETS.get(str(ds.get('type'))), 'METAINFO', {}).get('classes') or ('object',)
    ids = []
    for i in range(2):
        h, w, name = 128, 160, f'00000{i}'
        _write_image(sub / 'JPEGImages' / f'{name}.jpg', h, w, i)
        x, y = 20 + 10 * i, 16
        xml = (f'<annotation><filename>{name}.jpg</filename><size><width>{w}</width><height>{h}</height>'
               f'<depth>3</depth></size><object><name>{classes[0]}</name><difficult>0</difficult><bndbox>'
               f'<xmin>{x}</xmin><ymin>{y}</ymin><xmax>{x + 80}</xmax><ymax>{y + 96}</ymax></bndbox></object>'
               '</annotation>')
        (sub / 'Annotations').mkdir(parents=True, exist_ok=True)
        (sub / 'Annotations' / f'{name}.xml').write_text(xml)
        ids.append(name)
    ann_path = root / ds['ann_file']
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    ann_path.write_text('\n'.join(ids) + '\n')


def _ocr_json(ds: dict, root: Path, recog: bool) -> None:
    img_dir = _img_dir(ds, root)
    data = []
    for i in range(2):
        h, w = (32, 100) if recog else (128, 160)
        name = f'img_{i}.jpg'
        _write_image(img_dir / name, h, w, i)
        if recog:
            data.append(dict(img_path=name, instances=[dict(text='hello')]))
        else:
            poly = [20, 20, 120, 20, 120, 60, 20, 60]
            data.append(dict(img_path=name, height=h, width=w, seg_map=f'gt_{i}.txt', instances=[
                dict(polygon=poly, bbox=[20, 20, 120, 60], bbox_label=0, ignore=False)]))
    task = 'textrecog' if recog else 'textdet'
    meta = dict(dataset_name='stand-in', task_name=task)
    if not recog:
        meta['category'] = [dict(id=0, name='text')]
    ann_path = root / ds['ann_file']
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    ann_path.write_text(json.dumps(dict(metainfo=meta, data_list=data)))


def _leaf_datasets(ds):
    """The dataset dicts with an ``ann_file`` inside wrappers (ConcatDataset, RepeatDataset, ...)."""
    if isinstance(ds, dict):
        if 'ann_file' in ds:
            yield ds
        if str(ds.get('type', '')).split('.')[-1] == 'RepeatDataset':
            ds['times'] = 1  # one pass over the generated images (the recipes repeat small sets: VOC x3)
        for key in ('dataset', 'datasets'):
            sub = ds.get(key)
            for item in (sub if isinstance(sub, list) else [sub]):
                yield from _leaf_datasets(item)


def _within_small(scale) -> bool:
    """Whether every side in ``scale`` (an int, a (w, h) pair or a list of pairs) is at most SMALL_SCALE's larger
    side: such a resize is already small (a text recogniser's 100 x 32) and is left as the file has it."""
    if isinstance(scale, (int, float)):
        return scale <= max(SMALL_SCALE)
    if isinstance(scale, (list, tuple)) and scale:
        return all(_within_small(s) for s in scale)
    return False


def _shrink_resizes(pipeline) -> None:
    """Shrink the training resizes of ``pipeline`` (in place) to SMALL_SCALE; never enlarge one that is already
    smaller (enlarging a recogniser's 100 x 32 to 160 x 128 breaks a model built for 32-pixel-high words)."""
    for t in pipeline or []:
        if not isinstance(t, dict):
            continue
        kind = str(t.get('type', '')).split('.')[-1]
        if kind == 'Resize' and 'scale' in t and not _within_small(t['scale']):
            t['scale'] = SMALL_SCALE
        elif kind == 'RandomResize' and 'scale' in t and not _within_small(t['scale']):
            t['scale'] = [SMALL_SCALE, (SMALL_SCALE[0] * 5 // 4, SMALL_SCALE[1] * 5 // 4)] \
                if isinstance(t['scale'][0], (list, tuple)) else SMALL_SCALE
        elif kind == 'RandomChoiceResize' and 'scales' in t and not _within_small(t['scales']):
            t['scales'] = [SMALL_SCALE]
        for key in ('transforms', 'pipeline'):
            if isinstance(t.get(key), list):
                _shrink_resizes(t[key])


def prepare_training(cfg, toolbox: str, data_dir: Path, work_dir: Path) -> None:
    """Point ``cfg``'s training datasets at generated data under ``data_dir`` and shrink the run (see the module
    docstring); raises NotImplementedError for a dataset type the harness cannot generate."""
    loader = cfg.train_dataloader
    leaves = list(_leaf_datasets(loader['dataset']))
    if not leaves:
        raise NotImplementedError('no dataset with an ann_file in train_dataloader')
    for i, ds in enumerate(leaves):
        root = data_dir / f'ds{i}'
        kind = str(ds.get('type', '')).split('.')[-1]
        ds['data_root'] = str(root)
        if kind in ('CocoDataset', 'CityscapesDataset') and toolbox == 'mmdet':  # Cityscapes: COCO-converted
            _coco_det(ds, root, keypoints=False)
        elif kind == 'VOCDataset' and toolbox == 'mmdet':
            _voc(ds, root)
        elif kind == 'CocoDataset' and toolbox == 'mmpose':
            _coco_det(ds, root, keypoints=True)
        elif kind in ('AicDataset', 'CrowdPoseDataset') and toolbox == 'mmpose':  # COCO files, 14 keypoints
            _coco_det(ds, root, keypoints=True, num_keypoints=14)
        elif kind in ('OCRDataset', 'RecogTextDataset'):
            recog = 'textrecog' in str(ds.get('ann_file', '')) or 'recog' in kind.lower()
            _ocr_json(ds, root, recog=recog)
        else:
            raise NotImplementedError(f'no stand-in data for a {kind} dataset')
        _shrink_resizes(ds.get('pipeline'))
    _shrink_resizes(loader['dataset'].get('pipeline') if isinstance(loader['dataset'], dict) else None)
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.work_dir = str(work_dir)
    train_cfg = dict(cfg.train_cfg)
    if 'max_iters' in train_cfg:
        train_cfg['max_iters'] = 1
    else:
        train_cfg['max_epochs'] = 1
    train_cfg['val_interval'] = 10 ** 6
    train_cfg.pop('dynamic_intervals', None)
    cfg.train_cfg = train_cfg
    cfg.val_cfg = None
    hooks = dict(cfg.get('default_hooks') or {})
    hooks['checkpoint'] = None
    cfg.default_hooks = hooks
    cfg.load_from = None
    cfg.resume = False


# -- one config ---------------------------------------------------------------------------------------------------
def check_one(root: Path, rel: str, toolbox: str, train: bool = False) -> dict:
    import torch

    from visioncraft.config import Config
    from visioncraft.registry import MODELS, default_scope
    result = dict(path=rel, toolbox=toolbox, loaded=False, built=False, forward=False, trained=None, stage='load',
                  error='')
    try:
        cfg = Config.fromfile(str(root / rel))
        result['loaded'] = True
        result['stage'] = 'build'
        if 'model' not in cfg:
            raise KeyError('the config has no "model"')
        strip_pretrained(cfg.model)
        with default_scope(cfg.get('default_scope')):
            model = MODELS.build(copy.deepcopy(cfg.model), key_path='model')
            result['built'] = True
            result['stage'] = 'forward'
            model.eval()
            h, w = input_shape(toolbox, rel, cfg)
            with torch.no_grad():
                model(torch.rand(1, input_channels(cfg), h, w), mode='tensor')
        result['forward'] = True
        if train:
            result['stage'] = 'train'
            result['trained'] = False
            train_one_step(cfg, toolbox)
            result['trained'] = True
        result['stage'] = ''
    except BaseException as exc:  # every failure is a result line, never the end of the batch
        if isinstance(exc, (KeyboardInterrupt, _Timeout)):
            raise
        msg = ' '.join(f'{type(exc).__name__}: {exc}'.split())
        if not msg.strip() or msg.endswith(': '):
            msg = traceback.format_exc().strip().splitlines()[-1]
        result['error'] = msg[:600]
    finally:
        from visioncraft.registry import set_default_scope
        set_default_scope(None)
    return result


def train_one_step(cfg, toolbox: str) -> None:
    from visioncraft.engine import Runner
    with tempfile.TemporaryDirectory(prefix='vc_compat_') as tmp:
        prepare_training(cfg, toolbox, Path(tmp) / 'data', Path(tmp) / 'work')
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            runner = Runner(cfg)
            try:
                runner.train()
            finally:
                for handler in list(runner.logger.handlers):  # the work dir goes away with tmp
                    if isinstance(handler, logging.FileHandler):
                        runner.logger.removeHandler(handler)
                        handler.close()
        if runner.iter < 1:
            raise RuntimeError('the training loop ran no iteration')


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f'took more than {PER_CONFIG_TIMEOUT_S} s')


def find_configs(root: Path, patterns: list[str]) -> list[str]:
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob('*.py'))
    chosen = [r for r in rels if any(fnmatch.fnmatchcase(r, pat) for pat in patterns)]
    return [r for r in chosen if '_base_' not in r.split('/') and not Path(r).name.startswith('_base_')]


def summary_table(results: list[dict]) -> str:
    rows = ['toolbox   configs  loaded  built+forward  trained (tried)']
    for tb in sorted({r['toolbox'] for r in results}):
        rs = [r for r in results if r['toolbox'] == tb]
        tried = [r for r in rs if r['trained'] is not None]
        rows.append(f'{tb:<9} {len(rs):>7}  {sum(r["loaded"] for r in rs):>6}  '
                    f'{sum(r["built"] and r["forward"] for r in rs):>13}  '
                    f'{sum(bool(r["trained"]) for r in tried):>7} ({len(tried)})')
    return '\n'.join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs_dir', type=Path)
    parser.add_argument('patterns', nargs='+', help="shell patterns under CONFIGS_DIR, e.g. 'fcos/*.py'")
    parser.add_argument('--toolbox', choices=TOOLBOXES, help='default: from the folder name')
    parser.add_argument('--train', action='store_true', help='also train one iteration on generated data')
    parser.add_argument('--jsonl', action='store_true', help='one JSON object per config instead of a text line')
    args = parser.parse_args(argv)
    root = args.configs_dir.resolve()
    toolbox = args.toolbox or next((t for t in TOOLBOXES if t in root.as_posix().split('/')[-2:]
                                    or root.parent.name.startswith(t)), None)
    if toolbox is None:
        parser.error(f'cannot tell the toolbox from {root}; pass --toolbox')
    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo))
    import torch
    torch.set_num_threads(1)
    from visioncraft.registry import import_builtin_modules
    import_builtin_modules()
    logging.getLogger('visioncraft').setLevel(logging.ERROR)
    rels = find_configs(root, args.patterns)
    if not rels:
        parser.error(f'no config under {root} matches {args.patterns}')
    signal.signal(signal.SIGALRM, _alarm)
    results = []
    for rel in rels:
        signal.alarm(PER_CONFIG_TIMEOUT_S)
        try:
            result = check_one(root, rel, toolbox, train=args.train)
        except _Timeout as exc:
            result = dict(path=rel, toolbox=toolbox, loaded=False, built=False, forward=False, trained=None,
                          stage='timeout', error=str(exc))
        finally:
            signal.alarm(0)
        results.append(result)
        if args.jsonl:
            print(json.dumps(result), flush=True)
        else:
            state = 'ok' if not result['stage'] else f'FAIL at {result["stage"]}: {result["error"][:300]}'
            print(f'{rel}: {state}', flush=True)
    print(summary_table(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
