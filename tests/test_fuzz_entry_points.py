"""Fuzz every entry point with broken input: images, annotation files of every format we read, configs,
checkpoints and command-line flags.

Each case runs an entry point the way its command line does (``visioncraft``, ``tools/*.py``, ``demo/*.py``, the
dataset converters) and must end with exit status 2 and ONE ``error: ...`` line naming the file, key or value
(never a traceback, never a silent exit 0), within a time limit, writing nothing outside its work folder and the
temporary folder. Most cases run in this process (an interpreter start costs 3 s here); a few run as real
subprocesses to show the scripts behave the same. The inputs come from seeded generators: the same cases every run.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_cfg, tiny_det_model
from fuzz_entry_points_lib import (REPO, SITECUSTOMIZE, Case, Marker, bad_images, check, install_write_watch,
                                   mutate_json_text, png_bytes, random_bytes, run_in_process, run_subprocess,
                                   temp_roots)
from visioncraft.config import Config

SEED = 20240612
DEBUG = 'VISIONCRAFT_DEBUG'
_ENV0 = dict(os.environ)
MIN_CASES = 300

DET_MODEL = tiny_det_model(num_classes=4)
DET_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]

POSE_MODEL = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(8, 16), depths=(0, 0), out_indices=(1,)),
    head=dict(type='HeatmapHead', in_channels=16, out_channels=17, deconv_out_channels=(8,), deconv_kernel_sizes=(4,),
              loss=dict(type='KeypointMSELoss', use_target_weight=True),
              decoder=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)),
    test_cfg=dict(flip_test=False),
)
POSE_PIPELINE = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'), dict(type='TopdownAffine', input_size=(48, 64)),
                 dict(type='PackPoseInputs')]


# -- the valid inputs the broken ones are made from -----------------------------------------------------------
@pytest.fixture(scope='module')
def assets(tmp_path_factory, shapes_root):
    from visioncraft.data.synthetic.people import generate_pose_synth
    from visioncraft.data.synthetic.text import generate_text_det
    from visioncraft.data.synthetic.words import generate_text_recog
    from visioncraft.registry import MODELS, default_scope
    from visioncraft.data.synthetic.det_shapes import generate_det_shapes

    root = tmp_path_factory.mktemp('fuzz')
    a = dict(root=root, shapes_root=shapes_root)
    rng = random.Random(SEED)
    # classification: the tiny config of the other CLI tests
    cfg = tiny_cfg(root / 'cls_work', shapes_root)
    Config(cfg).dump(root / 'cls.py')
    a['cls'] = root / 'cls.py'
    torch.manual_seed(0)
    cls = MODELS.build(cfg['model'])
    torch.save({'state_dict': cls.state_dict(), 'meta': {}}, root / 'cls.pth')
    a['cls_ckpt'] = root / 'cls.pth'
    # detection: a small RetinaNet on 4 generated shapes pictures
    det_root = generate_det_shapes(root / 'det_shapes', num_train=2, num_val=2, image_size=(64, 64))
    det_cfg = dict(
        model=DET_MODEL,
        test_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dict(type='CocoDataset', data_root=str(det_root),
                                          ann_file='annotations/instances_val.json', pipeline=DET_PIPELINE,
                                          metainfo=dict(classes=('circle', 'square', 'triangle', 'star')),
                                          test_mode=True)),
        test_evaluator=dict(type='CocoMetric', metric='bbox'),
        test_cfg=dict(), work_dir=str(root / 'det_work'))
    Config(det_cfg).dump(root / 'det.py')
    a['det'] = root / 'det.py'
    det = MODELS.build(DET_MODEL)
    torch.save({'state_dict': det.state_dict(), 'meta': {'dataset_meta': {'classes': ['circle', 'square',
                                                                                      'triangle', 'star']}}},
               root / 'det.pth')
    a['det_ckpt'] = root / 'det.pth'
    a['coco'] = det_root / 'annotations' / 'instances_val.json'
    # the same detector in a training config (its dataset is what the annotation cases break)
    train_set = dict(type='CocoDataset', data_root=str(det_root), ann_file='annotations/instances_train.json',
                     pipeline=DET_PIPELINE, indices=None, filter_cfg=dict(filter_empty_gt=True, min_size=0),
                     metainfo=dict(classes=('circle', 'square', 'triangle', 'star')))
    det_train = dict(det_cfg, work_dir=str(root / 'det_train_work'),
                     train_dataloader=dict(batch_size=2, num_workers=0, dataset=train_set,
                                           sampler=dict(type='DefaultSampler', shuffle=True)),
                     train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
                     optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
                     param_scheduler=[dict(type='MultiStepLR', milestones=[1], by_epoch=True)])
    Config(det_train).dump(root / 'det_train.py')
    a['det_train'] = root / 'det_train.py'
    # pose: a tiny top-down model, COCO keypoints of 2 generated pictures
    pose_root = generate_pose_synth(root / 'pose_synth', num_train=2, num_val=2, img_size=(96, 72))
    pose_cfg = dict(
        default_scope='mmpose', model=POSE_MODEL,
        test_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dict(type='CocoDataset', data_root=str(pose_root), data_mode='topdown',
                                          ann_file='annotations/person_keypoints_val.json',
                                          data_prefix=dict(img='val/'), pipeline=POSE_PIPELINE, test_mode=True,
                                          metainfo=dict(from_file=str(REPO / 'configs/_base_/datasets/coco.py')))),
        test_evaluator=dict(type='PCKAccuracy'), test_cfg=dict(), work_dir=str(root / 'pose_work'))
    Config(pose_cfg).dump(root / 'pose.py')
    a['pose'] = root / 'pose.py'
    with default_scope('mmpose'):
        pose = MODELS.build(POSE_MODEL)
    torch.save({'state_dict': pose.state_dict()}, root / 'pose.pth')
    a['pose_ckpt'] = root / 'pose.pth'
    a['kpts'] = pose_root / 'annotations' / 'person_keypoints_val.json'
    # text: detection (ICDAR 2015, MMOCR JSON, PaddleOCR labels) and recognition (MMOCR JSON, PaddleOCR labels)
    a['textdet'] = generate_text_det(root / 'textdet', 2, 2, (64, 64), fonts='default')
    a['textrecog'] = generate_text_recog(root / 'textrecog', 3, 3, fonts='default', size_range=(14, 16))
    from visioncraft.cli.common import read_config
    cuda_env = os.environ.get('CUDA_VISIBLE_DEVICES')
    for name, yml in (('textdet', 'configs/det/det_tiny_synth.yml'), ('textrecog', 'configs/rec/rec_tiny_synth.yml')):
        text_cfg = read_config(str(REPO / yml))
        model = MODELS.build(text_cfg.model.to_dict())
        torch.save({'state_dict': model.state_dict()}, root / f'{name}.pth')
        a[f'{name}_ckpt'] = root / f'{name}.pth'
        text_cfg.dump(root / f'{name}_cfg.py')
        a[f'{name}_cfg'] = root / f'{name}_cfg.py'
    if cuda_env is None:  # read_config of a PaddleOCR YAML with use_gpu: false hides the GPUs
        os.environ.pop('CUDA_VISIBLE_DEVICES', None)
    else:
        os.environ['CUDA_VISIBLE_DEVICES'] = cuda_env
    # images
    img = root / 'img.png'
    img.write_bytes(png_bytes(40, 30, rng))
    a['img'] = img
    (root / 'imgs').mkdir()
    for i in range(2):
        (root / 'imgs' / f'{i}.png').write_bytes(png_bytes(32, 24, rng))
    a['bad_imgs'] = bad_images(root / 'bad_imgs', rng)
    (root / 'empty_dir').mkdir()
    a['empty_dir'] = root / 'empty_dir'
    return a


# -- the cases --------------------------------------------------------------------------------------------------
def _write(folder: Path, name: str, data) -> str:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data)
    return str(p)


def config_cases(a, rng: random.Random) -> list[Case]:
    """Broken config files, through `visioncraft config` (load + print) and `visioncraft train` (build)."""
    d = a['root'] / 'configs'
    d.mkdir()
    good = a['cls'].read_text()
    cases = []
    for i in range(25):  # cut short / a character dropped or added: invalid Python
        for _ in range(50):
            cut = rng.randrange(10, len(good) - 2)
            how = rng.randrange(3)
            text = good[:cut] if how == 0 else good[:cut] + rng.choice(['(', ')', ']', ':', '"', '=', '\\']) + \
                good[cut:] if how == 1 else good[:cut] + good[cut + 1:]
            try:
                compile(text, 'x', 'exec')
            except SyntaxError:
                break
        else:
            text = good + '\n)('
        cases.append(Case(f'config/py_syntax_{i}', 'visioncraft',
                          ['config' if i % 2 else 'train', _write(d, f'syntax_{i}.py', text)], words=(f'syntax_{i}.py',)))
    for i, text in enumerate(['model: {type: TinyClassifier\n', 'a: [1, 2\n', 'a:\n  - b\n - c\n', '\tmodel: 1\n',
                              'key: "unterminated\n', '- just\n- a list\n', '42\n', '"a string"\n']):
        cases.append(Case(f'config/yaml_{i}', 'visioncraft', ['config', _write(d, f'bad_{i}.yaml', text)],
                          words=(f'bad_{i}.yaml',)))
    for i in range(6):
        text = mutate_json_text(json.dumps(dict(model=dict(type='TinyClassifier', num_classes=4), a=[1, 2, {'b': None}])),
                                rng)
        cases.append(Case(f'config/json_{i}', 'visioncraft', ['config', _write(d, f'bad_{i}.json', text)],
                          words=(f'bad_{i}.json',)))
    specials = {
        'empty.py': '', 'binary.py': random_bytes(rng, 300), 'latin1.py': 'x = "\xe9"\n'.encode('latin-1'),
        'raises.py': 'import nonexistent_module_xyz\n', 'zero.py': 'x = 1 / 0\n', 'list_top.json': '[1, 2]',
        'base_missing.py': "_base_ = ['nope/never.py']\n", 'base_type.py': '_base_ = 5\n',
        'circ_a.py': "_base_ = ['circ_b.py']\n", 'circ_b.py': "_base_ = ['circ_a.py']\n",
        'imports.py': "custom_imports = dict(imports=['nonexistent_pkg_xyz'])\nmodel = dict(type='TinyClassifier')\n",
        'noext': 'model = dict()\n', 'cfg.txt': 'model = dict()\n', 'ref.py': "a = '{{_base_.model}}'\n",
        'exit.py': 'raise SystemExit(3)\n', 'interrupt.py': 'raise KeyboardInterrupt\n',
    }
    for name, text in specials.items():
        path = _write(d, name, text)
        if name == 'circ_b.py':
            continue
        expect = 'interrupt' if name == 'interrupt.py' else 'error'
        cmd = ['train', path, '--work-dir', 'wd'] if name == 'empty.py' else ['config', path]  # empty: no model
        cases.append(Case(f'config/special_{name}', 'visioncraft', cmd, expect=expect))
    cases.append(Case('config/folder', 'visioncraft', ['config', str(d)], words=(str(d),)))
    cases.append(Case('config/missing', 'visioncraft', ['config', str(d / 'missing.py')], words=('missing.py',)))
    # configs that load but do not build: unknown types, unknown / wrong keys, wrong value types
    base = tiny_cfg('WORK', a['shapes_root'])  # a plain dict, edited below
    edits = [
        ('model.type', 'TinyClasifier'), ('model.num_classes', 'four'), ('model.widths', 'abc'),
        ('model.norm', 'nope'), ('model.bogus_key', 1), ('model', None), ('model', 5), ('model', [1, 2]),
        ('model.data_preprocessor.type', 'Nope'), ('model.data_preprocessor.mean', 'x'),
        ('model.data_preprocessor.std', [0, 0]),
        ('optim_wrapper.optimizer.type', 'SGDD'), ('optim_wrapper.optimizer.lr', 'fast'),
        ('optim_wrapper.optimizer.momentum', [1]), ('optim_wrapper', None), ('optim_wrapper.type', 'Wrap'),
        ('train_dataloader.batch_size', 0), ('train_dataloader.batch_size', 'eight'), ('train_dataloader.batch_size', -3),
        ('train_dataloader.num_workers', -1), ('train_dataloader.sampler.type', 'Sampler9'),
        ('train_dataloader.dataset.type', 'NoSuchDataset'), ('train_dataloader.dataset.pipeline', 'LoadImage'),
        ('train_dataloader.dataset.pipeline.0.type', 'LoadImageFromFiel'),
        ('train_dataloader.dataset.pipeline.1.prob', 'often'), ('train_dataloader.dataset.pipeline.1.direction', ['up']),
        ('train_dataloader.dataset.data_root', '/nonexistent/data'), ('train_dataloader.dataset.ann_file', 'nope.json'),
        ('train_dataloader', 7), ('train_cfg.max_epochs', 'x'), ('train_cfg.max_epochs', -1), ('train_cfg', None),
        ('train_cfg.bogus', 3), ('param_scheduler.0.type', 'NoLR'), ('param_scheduler.1.milestones', 'x'),
        ('default_hooks.logger.type', 'NoHook'), ('default_hooks.checkpoint.interval', 'x'),
        ('val_evaluator.type', 'NoMetric'), ('randomness.seed', 'abc'), ('custom_hooks', [dict(type='Nope')]),
        ('env_cfg', 5), ('default_scope', 'mmfoo'), ('visualizer', dict(type='NoVis')), ('log_level', 'LOUD'),
        ('auto_scale_lr', 'x'),
    ]
    for i, (key, value) in enumerate(edits):
        cfg = json.loads(json.dumps(base))
        node, parts = cfg, key.split('.')
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if isinstance(node, list):
            node[int(parts[-1])] = value
        else:
            node[parts[-1]] = value
        path = d / f'build_{i}.py'
        Config(cfg).dump(path)
        text = path.read_text().replace("'WORK'", repr(str(a['root'] / 'cls_work')))
        path.write_text(text)
        cases.append(Case(f'config/build_{i}_{key}', 'visioncraft',
                          ['train', str(path), '--work-dir', 'wd', '-o', 'train_cfg.max_epochs=1'] if key != 'train_cfg.max_epochs'
                          and key != 'train_cfg' else ['train', str(path), '--work-dir', 'wd']))
    # overrides on the command line
    for i, opt in enumerate(['model.num_classe=3', 'model.type=Nope', 'train_cfg.max_epochs=abc', 'a=[1', '=3',
                             'model', 'model.widths.9=3', 'model.num_classes.x=1', 'train_dataloader.batch_size=0']):
        cases.append(Case(f'config/override_{i}', 'visioncraft',
                          ['train', str(a['cls']), '--work-dir', 'wd', '-o', opt], expect='fail'))
    cases += config_value_cases(a, d)
    return cases


def config_value_cases(a, d: Path) -> list[Case]:
    """Config values of the wrong type or out of range (generated, from their own RNG so the other cases keep their
    inputs), a key set twice in a YAML file, a misspelt top-level key with strict_config=True: one error line naming
    the key path (the file, the key and both lines for the YAML)."""
    rng = random.Random(SEED + 17)
    cls = str(a['cls'])
    neg = -round(rng.uniform(0.1, 50), 2)
    frac = rng.randint(1, 5) + 0.5
    faults = [  # (override, the key path the error line must name)
        (f'+optim_wrapper.clip_grad.max_norm={neg}', 'optim_wrapper.clip_grad.max_norm'),
        ('+optim_wrapper.clip_grad.max_norm=0', 'optim_wrapper.clip_grad.max_norm'),
        (f'+optim_wrapper.clip_grad={{max_norm: 1, norm_type: {neg}}}', 'optim_wrapper.clip_grad.norm_type'),
        (f'+optim_wrapper.clip_grad={{type: value, clip_value: {neg}}}', 'optim_wrapper.clip_grad.clip_value'),
        ("+optim_wrapper.clip_grad.max_norm='35'", 'optim_wrapper.clip_grad.max_norm'),
        ('+optim_wrapper.accumulative_counts=0', 'optim_wrapper.accumulative_counts'),
        (f'train_cfg.max_epochs={frac}', 'train_cfg.max_epochs'),
        (f'train_cfg.val_interval={-rng.randint(1, 9)}', 'train_cfg.val_interval'),
        (f'param_scheduler.1.milestones=[{frac}]', 'param_scheduler.1.milestones'),
        ('param_scheduler.1.milestones=x', 'param_scheduler.1.milestones'),
        (f'param_scheduler.0.end={-rng.randint(0, 9)}', 'param_scheduler.0.end'),
        (f'param_scheduler.1.gamma={neg}', 'param_scheduler.1.gamma'),
        ('default_hooks.checkpoint.interval=0', 'default_hooks.checkpoint.interval'),
        (f'default_hooks.logger.interval={frac}', 'default_hooks.logger.interval'),
        ('+train_dataloader.pin_memory=yes', 'train_dataloader.pin_memory'),
        (f'+train_dataloader.prefetch_factor={frac}', 'train_dataloader.prefetch_factor'),
    ]
    cases = [Case(f'config/value_{i}_{key}', 'visioncraft',
                  ['train', cls, '--work-dir', 'wd', '-o', opt] + (['train_cfg.max_epochs=1'] if 'max_epochs' not in opt
                                                                   else []), words=(cls, key))
             for i, (opt, key) in enumerate(faults)]
    cases.append(Case('config/value_interval_flag', 'visioncraft',
                      ['train', cls, '--work-dir', 'wd', '--show-dir', 'pics', '--interval', '0'],
                      words=('default_hooks.visualization.interval',)))
    dup = _write(d, 'dup_keys.yaml', f'_base_: {cls}\ntrain_cfg:\n  max_epochs: 1\n  by_epoch: true\n  max_epochs: 2\n')
    cases.append(Case('config/value_yaml_duplicate_key', 'visioncraft', ['train', dup, '--work-dir', 'wd'],
                      words=('dup_keys.yaml', "'train_cfg.max_epochs'", 'lines 3 and 5')))
    typo = _write(d, 'typo_strict.py', f"_base_ = [{cls!r}]\nstrict_config = True\nval_evalutor = dict(type='Accuracy')\n")
    cases.append(Case('config/value_strict_typo', 'visioncraft', ['train', typo, '--work-dir', 'wd'],
                      words=('typo_strict.py', "'val_evalutor'", "'val_evaluator'")))
    return cases


def checkpoint_cases(a, rng: random.Random) -> list[Case]:
    """Broken checkpoints, through `visioncraft test`, tools/test.py, `visioncraft export`, the demos, the
    PaddleOCR tools and the torchvision converter."""
    d = a['root'] / 'ckpts'
    d.mkdir()
    good = a['cls_ckpt'].read_bytes()
    files = {}
    for i in range(6):
        files[f'random_{i}.pth'] = random_bytes(rng, rng.randrange(1, 5000))
    for i in range(6):
        files[f'truncated_{i}.pth'] = good[:rng.randrange(1, len(good) - 1)]
    for i in range(3):
        b = bytearray(good)
        for _ in range(20):
            b[rng.randrange(len(b))] = rng.randrange(256)
        files[f'flipped_{i}.pth'] = bytes(b)
    files['empty.pth'] = b''
    files['text.pth'] = 'model weights go here\n'
    files['json.pth'] = json.dumps({'state_dict': {'a': 1}})
    files['zip.pth'] = b'PK\x03\x04' + random_bytes(rng, 200)
    for name, path in files.items():
        _write(d, name, path)
    marker = a['root'] / 'PICKLE_EXECUTED'
    torch.save({'state_dict': {'w': Marker(str(marker))}}, d / 'evil.pth')
    import pickle
    (d / 'evil_plain.pth').write_bytes(pickle.dumps({'state_dict': {'w': Marker(str(marker))}}))
    torch.save({'state_dict': {'completely.other.weight': torch.zeros(3, 3)}}, d / 'other_model.pth')
    torch.save({'state_dict': {k: torch.zeros(v.shape[:-1] + (v.shape[-1] + 1,)) if v.ndim else torch.zeros(2)
                               for k, v in torch.load(a['cls_ckpt'], weights_only=True)['state_dict'].items()}},
               d / 'other_shapes.pth')
    torch.save(torch.load(a['det_ckpt'], weights_only=True), d / 'det_for_cls.pth')
    torch.save([1, 2, 3], d / 'a_list.pth')
    torch.save({'state_dict': 5}, d / 'sd_int.pth')
    torch.save({'state_dict': {'a': 'text', 'b': [1, 2]}}, d / 'sd_strings.pth')
    torch.save({}, d / 'empty_dict.pth')
    torch.save(torch.zeros(3), d / 'a_tensor.pth')
    names = sorted(p.name for p in d.iterdir() if not p.name.startswith('flipped'))
    cases = []
    for name in names:
        ck = str(d / name)
        # a flipped byte may land in tensor data: garbage weights that load; the run must just not crash
        cases.append(Case(f'ckpt/test_{name}', 'visioncraft', ['test', str(a['cls']), ck, '--work-dir', 'wd'],
                          words=(name,), expect='maybe' if name.startswith('flipped') else 'error'))
    for name in rng.sample(names, 8):
        cases.append(Case(f'ckpt/tools_test_{name}', 'tools/test.py', [str(a['cls']), str(d / name), '--work-dir', 'wd'],
                          words=(name,)))
    for name in rng.sample(names, 8):
        cases.append(Case(f'ckpt/image_demo_{name}', 'demo/image_demo.py',
                          [str(a['img']), str(a['det']), str(d / name), '--device', 'cpu', '--out-file', 'o.png'],
                          words=(name,)))
    for name in rng.sample(names, 5):
        cases.append(Case(f'ckpt/pose_demo_{name}', 'demo/pose_image_demo.py',
                          [str(a['img']), str(a['pose']), str(d / name), '--device', 'cpu', '--out-file', 'o.png'],
                          words=(name,)))
    for name in rng.sample(names, 5):
        cases.append(Case(f'ckpt/pose_cli_{name}', 'visioncraft',
                          ['pose', str(a['img']), '--pose2d', str(a['pose']), '--pose2d-weights', str(d / name),
                           '--no-progress'], words=(name,)))
    for name in rng.sample(names, 4):
        cases.append(Case(f'ckpt/infer_det_{name}', 'tools/infer_det.py',
                          ['-c', str(REPO / 'configs/det/det_tiny_synth.yml'), '-o',
                           f'Global.infer_img={a["img"]}', f'Global.pretrained_model={d / name}'], words=(name,)))
    for name in rng.sample(names, 4):
        cases.append(Case(f'ckpt/torchvision_{name}', 'module:visioncraft.tasks.detection.models.convert_torchvision',
                          [str(d / name), 'out.pth'], words=(name,)))
    for name in ('other_model.pth', 'other_shapes.pth'):
        cases.append(Case(f'ckpt/test_det_{name}', 'visioncraft',
                          ['test', str(a['det']), str(d / name), '--work-dir', 'wd'], words=(name,)))
    cases.append(Case('ckpt/test_det_with_cls_ckpt', 'visioncraft',
                      ['test', str(a['det']), str(a['cls_ckpt']), '--work-dir', 'wd'], words=('cls.pth',)))
    cases.append(Case('ckpt/test_cls_with_det_ckpt', 'visioncraft',
                      ['test', str(a['cls']), str(d / 'det_for_cls.pth'), '--work-dir', 'wd'],
                      words=('det_for_cls.pth',)))
    cases.append(Case('ckpt/folder', 'visioncraft', ['test', str(a['cls']), str(d), '--work-dir', 'wd'],
                      words=(str(d),)))
    cases.append(Case('ckpt/missing', 'visioncraft', ['test', str(a['cls']), str(d / 'nope.pth'), '--work-dir', 'wd'],
                      words=('nope.pth',)))
    return cases


def image_cases(a, rng: random.Random) -> list[Case]:
    """Broken images through the demos, `visioncraft pose`, `visioncraft ocr`, the PaddleOCR inference tools and
    images2coco."""
    bad = a['bad_imgs']
    cases = []
    for name, path in sorted(bad.items()):
        cases.append(Case(f'img/image_demo_{name}', 'demo/image_demo.py',
                          [str(path), str(a['det']), str(a['det_ckpt']), '--device', 'cpu', '--out-file', 'o.png'],
                          words=(name,)))
        cases.append(Case(f'img/pose_demo_{name}', 'demo/pose_image_demo.py',
                          [str(path), str(a['pose']), str(a['pose_ckpt']), '--device', 'cpu', '--out-file', 'o.png'],
                          words=(name,)))
    for name in rng.sample(sorted(bad), 8):
        cases.append(Case(f'img/pose_cli_{name}', 'visioncraft',
                          ['pose', str(bad[name]), '--pose2d', str(a['pose']), '--pose2d-weights',
                           str(a['pose_ckpt']), '--no-progress'], words=(name,)))
    for name in rng.sample(sorted(bad), 6):
        cases.append(Case(f'img/topdown_{name}', 'demo/topdown_demo_with_detector.py',
                          [str(a['det']), str(a['det_ckpt']), str(a['pose']), str(a['pose_ckpt']), '--input',
                           str(bad[name]), '--device', 'cpu', '--output-root', 'out'], words=(name,)))
    for name in rng.sample(sorted(bad), 6):
        cases.append(Case(f'img/infer_det_{name}', 'tools/infer_det.py',
                          ['-c', str(REPO / 'configs/det/det_tiny_synth.yml'), '-o', f'Global.infer_img={bad[name]}',
                           f'Global.pretrained_model={a["textdet_ckpt"]}'], words=(name,)))
    for name in rng.sample(sorted(bad), 4):
        cases.append(Case(f'img/video_demo_{name}', 'demo/video_demo.py',
                          [str(bad[name]), str(a['det']), str(a['det_ckpt']), '--device', 'cpu', '--out', 'o.mp4'],
                          words=(name,)))
    # a folder holding only broken images
    folder = a['root'] / 'only_bad'
    folder.mkdir()
    for name in ('truncated_0.png', 'empty.jpg', 'text.png'):
        shutil.copy(bad[name], folder / name)
    cases.append(Case('img/pose_cli_folder_of_bad', 'visioncraft',
                      ['pose', str(folder), '--pose2d', str(a['pose']), '--pose2d-weights', str(a['pose_ckpt']),
                       '--no-progress']))
    cases.append(Case('img/topdown_folder_of_bad', 'demo/topdown_demo_with_detector.py',
                      [str(a['det']), str(a['det_ckpt']), str(a['pose']), str(a['pose_ckpt']), '--input', str(folder),
                       '--device', 'cpu', '--output-root', 'out']))
    # a corrupt picture inside a dataset. (With test_dataloader.num_workers=1 the same run prints its one line but
    # then the process does not exit: its DataLoader worker, which ignores SIGTERM, outlives the error. A bug of
    # the worker handling, left out here until it is fixed: this test would hang at exit.)
    shapes = a['root'] / 'shapes_bad'
    shutil.copytree(a['shapes_root'], shapes)
    first = sorted((shapes / 'val').rglob('*.png'))[0]
    first.write_bytes(bad['truncated_1.png'].read_bytes())
    cases.append(Case('img/test_dataset_corrupt_image', 'visioncraft',
                      ['test', str(a['cls']), str(a['cls_ckpt']), '--work-dir', 'wd', '-o',
                       f'test_dataloader.dataset.data_root={shapes}', 'test_dataloader.num_workers=0'],
                      words=(first.name,)))
    classes = _write(a['root'], 'classes.txt', 'circle\nsquare\n')
    cases.append(Case('img/images2coco_folder_of_bad', 'tools/dataset_converters/images2coco.py',
                      [str(folder), classes, 'out.json']))
    cases.append(Case('img/image_demo_empty_dir', 'demo/image_demo.py',
                      [str(a['empty_dir']), str(a['det']), str(a['det_ckpt']), '--device', 'cpu', '--out-file', 'o.png']))
    cases.append(Case('img/pose_cli_empty_dir', 'visioncraft',
                      ['pose', str(a['empty_dir']), '--pose2d', str(a['pose']), '--pose2d-weights', str(a['pose_ckpt'])]))
    return cases


def _mutations(obj, rng: random.Random, n: int, protect: tuple = ()) -> list:
    """``n`` structurally broken copies of the JSON object ``obj``: a required-looking key deleted, a value replaced
    by one of the wrong type, a list replaced by a scalar. Keys in ``protect`` are left alone."""
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in protect:
                    paths.append(path + (k,))
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node[:3]):
                paths.append(path + (i,))
                walk(v, path + (i,))

    walk(obj, ())
    out = []
    for _ in range(n):
        new = json.loads(json.dumps(obj))
        path = rng.choice(paths)
        parent = new
        for p in path[:-1]:
            parent = parent[p]
        how = rng.randrange(3)
        if how == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = rng.choice(['text', -7, None, {'x': 1}, [[['deep']]], 1e308, True])
        out.append((path, new))
    return out


def annotation_cases(a, rng: random.Random) -> list[Case]:
    """Broken annotation files of every format we read."""
    d = a['root'] / 'anns'
    d.mkdir()
    cases = []
    # COCO instances (CocoDataset through `visioncraft test`; CocoMetric's ann_file)
    coco = json.loads(a['coco'].read_text())
    coco_text = json.dumps(coco)
    det_args = lambda p: ['test', str(a['det']), str(a['det_ckpt']), '--work-dir', 'wd', '-o',  # noqa: E731
                          f'test_dataloader.dataset.ann_file={p}']
    for i in range(10):
        p = _write(d, f'coco_syntax_{i}.json', mutate_json_text(coco_text, rng))
        cases.append(Case(f'ann/coco_syntax_{i}', 'visioncraft', det_args(p), words=(f'coco_syntax_{i}.json',)))
    structural = {
        'top_list': [coco], 'no_images': {k: v for k, v in coco.items() if k != 'images'},
        'no_annotations': {k: v for k, v in coco.items() if k != 'annotations'},
        'images_dict': dict(coco, images={'a': 1}), 'images_str': dict(coco, images='abc'),
        'image_no_file': dict(coco, images=[{k: v for k, v in im.items() if k != 'file_name'} for im in coco['images']]),
        'image_no_id': dict(coco, images=[{k: v for k, v in im.items() if k != 'id'} for im in coco['images']]),
        'bbox_short': dict(coco, annotations=[dict(an, bbox=an['bbox'][:3]) for an in coco['annotations']]),
        'bbox_text': dict(coco, annotations=[dict(an, bbox='1,2,3,4') for an in coco['annotations']]),
        'bbox_none': dict(coco, annotations=[dict(an, bbox=None) for an in coco['annotations']]),
        'cat_unknown': dict(coco, annotations=[dict(an, category_id=999) for an in coco['annotations']]),
        'ann_no_image_id': dict(coco, annotations=[{k: v for k, v in an.items() if k != 'image_id'}
                                                   for an in coco['annotations']]),
        'no_categories': {k: v for k, v in coco.items() if k != 'categories'},
        'cat_no_name': dict(coco, categories=[{'id': c['id']} for c in coco['categories']]),
        'width_text': dict(coco, images=[dict(im, width='wide') for im in coco['images']]),
        'file_name_int': dict(coco, images=[dict(im, file_name=5) for im in coco['images']]),
        'segm_text': dict(coco, annotations=[dict(an, segmentation='poly') for an in coco['annotations']]),
    }
    for name, obj in structural.items():
        p = _write(d, f'coco_{name}.json', json.dumps(obj))
        if name not in ('no_annotations', 'segm_text'):
            cases.append(Case(f'ann/coco_{name}', 'visioncraft', det_args(p), words=(f'coco_{name}.json',)))
    for name in ('no_annotations', 'segm_text'):  # a test-set image list; a segmentation the test does not read
        cases.append(Case(f'ann/coco_{name}', 'visioncraft', det_args(d / f'coco_{name}.json'), expect='maybe'))
    for name in ('empty', 'nul', 'latin1'):
        p = _write(d, f'coco_{name}.json', {'empty': b'', 'nul': b'\x00' * 10, 'latin1': '{"a": "\xe9"}'.encode('latin-1')}[name])
        cases.append(Case(f'ann/coco_{name}', 'visioncraft', det_args(p), words=(f'coco_{name}.json',)))
    cases += value_fault_cases(a, d, coco, det_args)
    for i in (0, 3, 5):
        p = _write(d, f'coco_metric_syntax_{i}.json', mutate_json_text(coco_text, rng))
        cases.append(Case(f'ann/coco_metric_{i}', 'visioncraft',
                          ['test', str(a['det']), str(a['det_ckpt']), '--work-dir', 'wd', '-o', f'+test_evaluator.ann_file={p}'],
                          words=(f'coco_metric_syntax_{i}.json',)))
    for name in ('no_images', 'bbox_text', 'cat_no_name'):
        cases.append(Case(f'ann/coco_metric_{name}', 'visioncraft',
                          ['test', str(a['det']), str(a['det_ckpt']), '--work-dir', 'wd', '-o',
                           f'+test_evaluator.ann_file={d / f"coco_{name}.json"}'], words=(f'coco_{name}.json',)))
    # COCO keypoints (the pose CocoDataset)
    kp = json.loads(a['kpts'].read_text())
    kp_args = lambda p: ['test', str(a['pose']), str(a['pose_ckpt']), '--work-dir', 'wd', '-o',  # noqa: E731
                         f'test_dataloader.dataset.ann_file={p}']
    for i in range(6):
        p = _write(d, f'kpts_syntax_{i}.json', mutate_json_text(json.dumps(kp), rng))
        cases.append(Case(f'ann/kpts_syntax_{i}', 'visioncraft', kp_args(p), words=(f'kpts_syntax_{i}.json',)))
    kp_struct = {
        'kpts_short': dict(kp, annotations=[dict(an, keypoints=an['keypoints'][:10]) for an in kp['annotations']]),
        'kpts_text': dict(kp, annotations=[dict(an, keypoints='none') for an in kp['annotations']]),
        'no_kpts': dict(kp, annotations=[{k: v for k, v in an.items() if k != 'keypoints'} for an in kp['annotations']]),
        'bbox_short': dict(kp, annotations=[dict(an, bbox=[1, 2]) for an in kp['annotations']]),
        'no_images': {k: v for k, v in kp.items() if k != 'images'},
        'num_kpts_text': dict(kp, annotations=[dict(an, num_keypoints='x') for an in kp['annotations']]),
        'top_list': [1, 2],
    }
    for name, obj in kp_struct.items():
        p = _write(d, f'kpts_{name}.json', json.dumps(obj))
        cases.append(Case(f'ann/kpts_{name}', 'visioncraft', kp_args(p), words=(f'kpts_{name}.json',)))
    cases += pose_value_fault_cases(d, kp, kp_args)
    # MMOCR textdet JSON (crop_textdet, mmocr_to_paddle, `visioncraft ocr --eval`)
    td = a['textdet']
    tdj = json.loads((td / 'textdet_val.json').read_text())
    for i in range(6):
        p = _write(td, f'td_syntax_{i}.json', mutate_json_text(json.dumps(tdj), rng))
        tool = ['tools/dataset_converters/textrecog/crop_textdet.py', 'tools/dataset_converters/textdet/mmocr_to_paddle.py'][i % 2]
        cases.append(Case(f'ann/textdet_syntax_{i}', tool, [p, f'out_{i}' if i % 2 == 0 else 'out.txt'],
                          words=(f'td_syntax_{i}.json',)))
    for i, (path, obj) in enumerate(_mutations(tdj, rng, 14, protect=('metainfo', 'dataset_name', 'task_name',
                                                                     'category', 'ignore', 'bbox_label'))):
        p = _write(td, f'td_struct_{i}.json', json.dumps(obj))
        tool = ['tools/dataset_converters/textrecog/crop_textdet.py', 'tools/dataset_converters/textdet/mmocr_to_paddle.py'][i % 2]
        cases.append(Case(f'ann/textdet_struct_{i}_{"_".join(map(str, path))}', tool,
                          [p, f'out_{i}' if i % 2 == 0 else 'out.txt'], expect='maybe'))
    # PaddleOCR detection labels (paddle_to_mmocr, crop_textdet)
    lines = (td / 'val_label.txt').read_text().splitlines()
    bad_lines = ['no tab here', 'imgs/val/img_1.jpg\t[{"points": [[1, 2]', 'imgs/val/img_1.jpg\t{"a": 1}',
                 'imgs/val/img_1.jpg\t[{"transcription": "x"}]', 'imgs/val/img_1.jpg\t[{"points": "abc"}]',
                 'imgs/val/img_1.jpg\t[{"points": [[1, 2], [3]]}]', '\t[]', 'imgs/val/missing.jpg\t[]',
                 'imgs/val/img_1.jpg\t[5]', 'imgs/val/img_1.jpg\tnull']
    for i, bl in enumerate(bad_lines):
        text = '\n'.join(lines[:1] + [bl] + lines[1:]) + '\n'
        p = _write(td, f'pd_{i}.txt', text)
        if i % 2 == 0:
            cases.append(Case(f'ann/paddle_det_{i}', 'tools/dataset_converters/textdet/paddle_to_mmocr.py',
                              [p, 'out.json', '--img-dir', str(td)],
                              words=(f'pd_{i}.txt',) if 'missing' not in bl else ('missing.jpg',)))
        else:  # an image without words has nothing to crop: not reading it is fine
            cases.append(Case(f'ann/paddle_det_crop_{i}', 'tools/dataset_converters/textrecog/crop_textdet.py',
                              [p, f'crop_{i}', '--format', 'paddle', '--data-root', str(td)],
                              words=(f'pd_{i}.txt',), expect='maybe' if 'missing' in bl else 'error'))
    p = _write(td, 'pd_binary.txt', random_bytes(rng, 400))
    cases.append(Case('ann/paddle_det_binary', 'tools/dataset_converters/textdet/paddle_to_mmocr.py', [p, 'o.json']))
    # ICDAR 2015 gt files (icdar2015 converter)
    ic = a['root'] / 'icdar'
    for i, bad in enumerate(['1,2,3', 'a,b,c,d,e,f,g,h,word', '1,2,3,4,5,6,7,8', '', '\xff\xfe garbage',
                             '1,2,3,4,5,6,7,nan,word']):
        img_dir, ann_dir = ic / f'{i}' / 'imgs', ic / f'{i}' / 'anns'
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        shutil.copy(td / 'imgs' / 'val' / 'img_1.jpg', img_dir / 'img_1.jpg')
        (ann_dir / 'gt_img_1.txt').write_bytes(('0,0,10,0,10,10,0,10,ok\n' + bad + '\n').encode('utf-8', 'surrogateescape')
                                               if '\xff' not in bad else b'0,0,1,0,1,1,0,1,ok\n\xff\xfe\x00garbage\n')
        cases.append(Case(f'ann/icdar2015_{i}', 'tools/dataset_converters/textdet/icdar2015.py',
                          ['x', '--img-dir', str(img_dir), '--ann-dir', str(ann_dir), '--out', 'out.json'],
                          expect='error' if bad not in ('',) else 'maybe'))
    # text recognition labels: MMOCR JSON and PaddleOCR txt (lmdb_converter)
    tr = a['textrecog']
    trj = json.loads((tr / 'textrecog_val.json').read_text())
    for i in range(5):
        p = _write(tr, f'tr_syntax_{i}.json', mutate_json_text(json.dumps(trj), rng))
        cases.append(Case(f'ann/textrecog_syntax_{i}', 'tools/dataset_converters/textrecog/lmdb_converter.py',
                          [p, f'lmdb_{i}', '-i', str(tr)], words=(f'tr_syntax_{i}.json',)))
    for i, (path, obj) in enumerate(_mutations(trj, rng, 8, protect=('metainfo', 'dataset_name', 'task_name'))):
        p = _write(tr, f'tr_struct_{i}.json', json.dumps(obj))
        cases.append(Case(f'ann/textrecog_struct_{i}_{"_".join(map(str, path))}',
                          'tools/dataset_converters/textrecog/lmdb_converter.py', [p, f'lmdbs_{i}', '-i', str(tr)],
                          expect='maybe'))
    rec_lines = (tr / 'val_label.txt').read_text().splitlines()
    for i, bl in enumerate(['no_tab_line', 'imgs/val/missing.jpg\tword', '\tword', 'imgs/val/word_1.jpg']):
        p = _write(tr, f'rec_{i}.txt', '\n'.join(rec_lines[:1] + [bl]) + '\n')
        cases.append(Case(f'ann/paddle_rec_{i}', 'tools/dataset_converters/textrecog/lmdb_converter.py',
                          [p, f'lmdbp_{i}', '-i', str(tr)], words=(f'rec_{i}.txt',) if i != 1 else ('missing.jpg',)))
    cases += text_value_fault_cases(a, tdj, lines, rec_lines)
    # `visioncraft ocr --eval ANN` / tools/misc/ocr_eval.py read MMOCR textdet JSON
    broken = [mutate_json_text(json.dumps(tdj), rng), mutate_json_text(json.dumps(tdj), rng), '{"data_list": 5}',
              json.dumps(dict(tdj, data_list=[dict(tdj['data_list'][0], instances=[{'polygon': 'x'}])])),
              json.dumps(dict(tdj, data_list=[{'instances': []}]))]
    for i, text in enumerate(broken):
        p = _write(td, f'ocr_eval_{i}.json', text)
        cases.append(Case(f'ann/ocr_eval_{i}', 'tools/misc/ocr_eval.py',
                          [str(td), p, '--det', str(a['textdet_cfg']), '--det-weights',
                           str(a['textdet_ckpt']), '--rec', str(a['textrecog_cfg']),
                           '--rec-weights', str(a['textrecog_ckpt']), '--no-draw'], words=(f'ocr_eval_{i}.json',)))
    # Pascal VOC XML (pascal_voc converter)
    voc = a['root'] / 'voc'
    xmls = ['<annotation><object><name>dog</name></object>', 'not xml at all', '',
            '<annotation><size><width>a</width><height>b</height></size></annotation>',
            '<annotation><object><name>dog</name><bndbox><xmin>1</xmin></bndbox></object></annotation>',
            '<annotation><object><name>dog</name><difficult>x</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>'
            '<xmax>q</xmax><ymax>5</ymax></bndbox></object></annotation>']
    for i, x in enumerate(xmls):
        dev = voc / f'{i}' / 'VOCdevkit'
        sub = dev / 'VOC2007'
        for s in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
            (sub / s).mkdir(parents=True)
        (sub / 'Annotations' / '000001.xml').write_text(x)
        cv2.imwrite(str(sub / 'JPEGImages' / '000001.jpg'), np.zeros((8, 8, 3), np.uint8))
        (sub / 'ImageSets' / 'Main' / 'trainval.txt').write_text('000001\n')
        cases.append(Case(f'ann/voc_{i}', 'tools/dataset_converters/pascal_voc.py', [str(dev), '-o', 'out'],
                          words=('000001.xml',)))
    # Cityscapes polygons (cityscapes converter)
    for i, text in enumerate(['{"imgHeight": 8, "imgWidth": 8, "objects": [{"label": "car"}]}', '{"objects": 5}',
                              '{broken', '[]', '{"imgHeight": 8, "imgWidth": 8, "objects": [{"label": "car", '
                              '"polygon": [[1, "a"]]}]}']):
        city = a['root'] / 'city' / f'{i}'
        (city / 'leftImg8bit' / 'val' / 'x').mkdir(parents=True)
        (city / 'gtFine' / 'val' / 'x').mkdir(parents=True)
        cv2.imwrite(str(city / 'leftImg8bit' / 'val' / 'x' / 'x_000000_000000_leftImg8bit.png'),
                    np.zeros((8, 8, 3), np.uint8))
        (city / 'gtFine' / 'val' / 'x' / 'x_000000_000000_gtFine_polygons.json').write_text(text)
        (city / 'gtFine' / 'val' / 'x' / 'x_000000_000000_gtFine_instanceIds.png').write_bytes(png_bytes(8, 8, rng))
        cases.append(Case(f'ann/cityscapes_{i}', 'tools/dataset_converters/cityscapes.py', [str(city), '-o', 'out'],
                          expect='maybe'))
    # images2coco class list; a recogniser dictionary; an exported model's inference.json
    for i, text in enumerate(['', b'\xff\xfe\x00\x01', '\n\n\n']):
        p = _write(d, f'classes_{i}.txt', text)
        cases.append(Case(f'ann/classes_{i}', 'tools/dataset_converters/images2coco.py', [str(a['root'] / 'imgs'), p,
                                                                                         'out.json']))
    for i, text in enumerate(['{broken', '[]', '{"task": "textdet"}', '{"task": "nope", "backend": 1}', '']):
        md = a['root'] / 'exports' / f'{i}'
        md.mkdir(parents=True)
        (md / 'inference.json').write_text(text)
        cases.append(Case(f'ann/inference_json_{i}', 'visioncraft', ['predict', str(a['img']), '--model-dir', str(md)],
                          words=('inference.json',) if i in (0, 1, 4) else ()))
    cases.append(Case('ann/inference_json_missing', 'visioncraft', ['predict', str(a['img']), '--model-dir',
                                                                  str(a['empty_dir'])]))
    return cases


def _edit_first(records: list[dict], **values) -> list[dict]:
    """``records`` with the first one's keys set to ``values``."""
    return [dict(records[0], **values)] + records[1:]


def value_fault_cases(a, d: Path, coco: dict, det_args) -> list[Case]:
    """COCO instances whose JSON is fine but whose values are not (NaN / Infinity, strings for numbers, short or odd
    polygons, ids that do not exist or repeat, sizes <= 0), a file with no image, and a training set that its
    filter empties: each must be one error line naming the file and the record (the filter), never a run."""
    anns, imgs = coco['annotations'], coco['images']
    nan, inf = float('nan'), float('inf')
    faults = {  # name: (file content, a word the error line must hold besides the file name)
        'nan_bbox': (dict(coco, annotations=_edit_first(anns, bbox=[nan, 1, 2, 3])), 'non-finite'),
        'inf_bbox': (dict(coco, annotations=_edit_first(anns, bbox=[1, 1, inf, 3])), 'non-finite'),
        'nan_area': (dict(coco, annotations=_edit_first(anns, area=nan)), 'area'),
        'string_bbox': (dict(coco, annotations=_edit_first(anns, bbox=['1', 2, 3, 4])), 'string'),
        'bool_bbox': (dict(coco, annotations=_edit_first(anns, bbox=[True, 2, 3, 4])), 'boolean'),
        'nan_polygon': (dict(coco, annotations=_edit_first(anns, segmentation=[[1, 2, nan, 4, 5, 6]])), 'polygon'),
        'inf_polygon': (dict(coco, annotations=_edit_first(anns, segmentation=[[1, 2, 3, 4, inf, 6, 7, 8]])),
                        'non-finite'),
        'short_polygon': (dict(coco, annotations=_edit_first(anns, segmentation=[[1, 2, 3, 4]])), 'polygon'),
        'odd_polygon': (dict(coco, annotations=_edit_first(anns, segmentation=[[1, 2, 3, 4, 5, 6, 7]])), 'polygon'),
        'string_polygon': (dict(coco, annotations=_edit_first(anns, segmentation=[['1', 2, 3, 4, 5, 6]])), 'polygon'),
        'bad_rle': (dict(coco, annotations=_edit_first(anns, segmentation={'size': [0, 5], 'counts': 'x'})), 'RLE'),
        'unknown_image': (dict(coco, annotations=_edit_first(anns, image_id=98765)), 'image_id 98765'),
        'dup_ann_id': (dict(coco, annotations=anns + [dict(anns[0])]), 'repeats'),
        'dup_img_id': (dict(coco, images=imgs + [dict(imgs[0], file_name='other.jpg')]), 'repeats'),
        'no_ann_id': (dict(coco, annotations=[{k: v for k, v in anns[0].items() if k != 'id'}] + anns[1:]), '"id"'),
        'string_ann_id': (dict(coco, annotations=_edit_first(anns, id=[1])), 'id'),
        'width_zero': (dict(coco, images=[dict(imgs[0], width=0)] + imgs[1:]), 'width'),
        'height_nan': (dict(coco, images=[dict(imgs[0], height=nan)] + imgs[1:]), 'height'),
        'iscrowd_7': (dict(coco, annotations=_edit_first(anns, iscrowd=7)), 'iscrowd'),
        'no_images': (dict(coco, images=[], annotations=[]), 'holds no images'),
    }
    cases = []
    for name, (obj, word) in faults.items():
        p = _write(d, f'coco_value_{name}.json', json.dumps(obj))  # NaN / Infinity as JSON's NaN and Infinity
        cases.append(Case(f'ann/coco_value_{name}', 'visioncraft', det_args(p),
                          words=(f'coco_value_{name}.json', word)))
    big = _write(d, 'coco_value_1e999.json', json.dumps(coco).replace(json.dumps(anns[0]['bbox']),
                                                                     '[1e999, 1, 2, 3]', 1))
    cases.append(Case('ann/coco_value_1e999', 'visioncraft', det_args(big), words=('coco_value_1e999.json', 'bbox')))
    # training: every image filtered out (or none in the file) is an error before the first step
    train = ['train', str(a['det_train']), '--work-dir', 'wd', '-o']
    cases.append(Case('ann/train_filtered_empty', 'visioncraft',
                      train + ['train_dataloader.dataset.filter_cfg.min_size=100000'],
                      words=('train_dataloader', 'instances_train.json', 'min_size=100000', 'removed all')))
    cases.append(Case('ann/train_no_images', 'visioncraft',
                      train + [f'train_dataloader.dataset.ann_file={d / "coco_value_no_images.json"}'],
                      words=('train_dataloader', 'coco_value_no_images.json', 'holds no images')))
    cases.append(Case('ann/train_indices_empty', 'tools/train.py',
                      [str(a['det_train']), '--work-dir', 'wd', '-o', 'train_dataloader.dataset.indices=[]'],
                      words=('indices=[]', 'kept none')))
    cases.append(Case('ann/train_nan_bbox', 'tools/train.py',
                      [str(a['det_train']), '--work-dir', 'wd', '-o',
                       f'train_dataloader.dataset.ann_file={d / "coco_value_nan_bbox.json"}'],
                      words=('coco_value_nan_bbox.json', 'non-finite')))
    return cases


def pose_value_fault_cases(d: Path, kp: dict, kp_args) -> list[Case]:
    """COCO keypoints with values that are wrong: NaN / Infinity or strings in keypoints and boxes, visibility
    flags outside 0..2, ids that do not exist or repeat, a zero image size, and a file with no valid person."""
    anns, imgs = kp['annotations'], kp['images']
    nan = float('nan')
    k0 = anns[0]['keypoints']
    faults = {
        'nan_keypoint': (_edit_first(anns, keypoints=[nan] + k0[1:]), None, 'non-finite'),
        'inf_keypoint': (_edit_first(anns, keypoints=k0[:3] + [float('inf')] + k0[4:]), None, 'non-finite'),
        'string_keypoints': (_edit_first(anns, keypoints=[str(v) for v in k0]), None, 'string'),
        'visibility_3': (_edit_first(anns, keypoints=k0[:2] + [3] + k0[3:]), None, 'visibility'),
        'visibility_minus_1': (_edit_first(anns, keypoints=k0[:2] + [-1] + k0[3:]), None, 'visibility'),
        'nan_bbox': (_edit_first(anns, bbox=[nan, 1, 2, 3]), None, 'bbox'),
        'string_bbox': (_edit_first(anns, bbox=['1', '2', '3', '4']), None, 'string'),
        'unknown_image': (_edit_first(anns, image_id=98765), None, 'image_id 98765'),
        'dup_ann_id': (anns + [dict(anns[0])], None, 'repeats'),
        'nan_area': (_edit_first(anns, area=nan), None, 'area'),
        'width_zero': (anns, [dict(imgs[0], width=0)] + imgs[1:], 'width'),
        'all_crowd': ([dict(an, iscrowd=1) for an in anns], None, 'holds no person instances'),
    }
    cases = []
    for name, (new_anns, new_imgs, word) in faults.items():
        p = _write(d, f'kpts_value_{name}.json', json.dumps(dict(kp, annotations=new_anns, images=new_imgs or imgs)))
        cases.append(Case(f'ann/kpts_value_{name}', 'visioncraft', kp_args(p), words=(f'kpts_value_{name}.json', word)))
    latin1 = json.dumps(kp).encode('utf-8').replace(b'"file_name"', b'"file_name\xe9"', 1)  # a Latin-1 byte
    p = _write(d, 'kpts_value_latin1.json', latin1)
    cases.append(Case('ann/kpts_value_latin1', 'visioncraft', kp_args(p), words=('kpts_value_latin1.json', 'UTF-8')))
    return cases


def text_value_fault_cases(a, tdj: dict, det_lines: list[str], rec_lines: list[str]) -> list[Case]:
    """Text annotations with values that are wrong: NaN / strings in MMOCR polygons and boxes (crop_textdet,
    mmocr_to_paddle), in PaddleOCR points (paddle_to_mmocr), and a byte that is not UTF-8 in a recognition label
    file (lmdb_converter)."""
    td, tr = a['textdet'], a['textrecog']
    entry = tdj['data_list'][0]
    inst = entry['instances'][0]
    nan = float('nan')
    broken = {
        'nan_polygon': dict(inst, polygon=[nan] + inst['polygon'][1:]),
        'string_polygon': dict(inst, polygon=[str(v) for v in inst['polygon']]),
        'nan_bbox': dict(inst, bbox=[nan, 0, 1, 1]),
        'inf_bbox': dict(inst, bbox=[0, 0, float('inf'), 1]),
    }
    cases = []
    for i, (name, bad) in enumerate(broken.items()):
        data = dict(tdj, data_list=[dict(entry, instances=[bad] + entry['instances'][1:])] + tdj['data_list'][1:])
        p = _write(td, f'td_value_{name}.json', json.dumps(data))
        if 'bbox' in name:  # the converter to PaddleOCR writes polygons only
            cases.append(Case(f'ann/textdet_value_{name}', 'tools/dataset_converters/textrecog/crop_textdet.py',
                              [p, f'out_v{i}'], words=(f'td_value_{name}.json', 'bbox')))
            continue
        for tool, out in (('tools/dataset_converters/textrecog/crop_textdet.py', f'out_v{i}'),
                          ('tools/dataset_converters/textdet/mmocr_to_paddle.py', 'out.txt')):
            cases.append(Case(f'ann/textdet_value_{name}_{tool.rsplit("/", 1)[-1][:-3]}', tool, [p, out],
                              words=(f'td_value_{name}.json', 'polygon')))
    for name, points in (('nan', '[[1, 2], [NaN, 2], [9, 8]]'), ('string', '[["1", 2], [9, 2], [9, 8]]'),
                         ('inf', '[[1, 2], [Infinity, 2], [9, 8]]')):
        p = _write(td, f'pd_value_{name}.txt', '\n'.join(det_lines[:1] + [
            f'imgs/val/img_1.jpg\t[{{"transcription": "x", "points": {points}}}]']) + '\n')
        cases.append(Case(f'ann/paddle_det_value_{name}', 'tools/dataset_converters/textdet/paddle_to_mmocr.py',
                          [p, 'out.json', '--img-dir', str(td)], words=(f'pd_value_{name}.txt', 'line 2')))
    p = _write(tr, 'rec_latin1.txt', ('\n'.join(rec_lines[:1]) + '\n').encode('utf-8') + b'imgs/val/w.jpg\t\xe9t\xe9\n')
    cases.append(Case('ann/paddle_rec_latin1', 'tools/dataset_converters/textrecog/lmdb_converter.py',
                      [p, 'lmdb_latin1', '-i', str(tr)], words=('rec_latin1.txt', 'line 2', 'UTF-8')))
    return cases


def flag_cases(a, rng: random.Random) -> list[Case]:
    """Unknown flags, missing values, bad numbers, nonexistent paths, bad devices, for every entry point."""
    cls, ck, det, dck, pose, pck, img = (str(a[k]) for k in ('cls', 'cls_ckpt', 'det', 'det_ckpt', 'pose',
                                                               'pose_ckpt', 'img'))
    nope = str(a['root'] / 'nope' / 'x.png')
    det_yml, rec_yml = str(REPO / 'configs/det/det_tiny_synth.yml'), str(REPO / 'configs/rec/rec_tiny_synth.yml')
    cpu_only = not torch.cuda.is_available()
    V = 'visioncraft'
    table = [
        (V, []), (V, ['trian']), (V, ['--bogus']), (V, ['train']), (V, ['train', cls, '--bogus']),
        (V, ['train', cls, '--work-dir']), (V, ['train', cls, '--launcher', 'bogus']),
        (V, ['train', cls, '--interval', 'x']), (V, ['train', cls, '--wait-time', 'slow']),
        (V, ['train', cls, '--resume', nope, '--work-dir', 'wd']), (V, ['train', nope]),
        (V, ['train', cls, '--auto-scale-lr', '-o', 'auto_scale_lr=None', '--work-dir', 'wd']),
        (V, ['train', cls, '--local_rank', 'x']), (V, ['train', '-c']),
        (V, ['test', cls]), (V, ['test', cls, ck, '--out', 'preds.txt', '--work-dir', 'wd']),
        (V, ['test', cls, ck, '--show-score-thr', 'high']), (V, ['test', nope, ck]), (V, ['test', cls, nope]),
        (V, ['test', cls, ck, '--cfg-options']), (V, ['test', cls, ck, '-o', 'x']),
        (V, ['config', cls, '--format', 'toml']), (V, ['config']), (V, ['config', cls, '-o', 'a.b.c']),
        (V, ['export', cls, ck]), (V, ['export', cls, ck, '--out-dir', 'ex', '--format', 'tflite']),
        (V, ['export', cls, ck, '--out-dir', 'ex', '--opset', 'x']), (V, ['export', nope, ck, '--out-dir', 'ex']),
        (V, ['export', cls, nope, '--out-dir', 'ex']), (V, ['export', cls, ck, '--out-dir', 'ex']),
        (V, ['predict', img]), (V, ['predict', img, '--model-dir', nope]),
        (V, ['predict', img, '--model-dir', str(a['empty_dir']), '--backend', 'tensorrt']),
        (V, ['predict', img, '--model-dir', str(a['empty_dir']), '--batch-size', 'x']),
        # (no --det / --rec runs the named PP-OCRv4 models: not a broken input)
        (V, ['ocr', img, '--det', det_yml]), (V, ['ocr', img, '--det', 'PP-OCRv9']),
        (V, ['ocr', img, '--det', det_yml, '--rec', rec_yml, '--batch-size', '0']),
        (V, ['ocr', nope, '--det', det_yml, '--rec', rec_yml]), (V, ['ocr', img, '--det', nope, '--rec', rec_yml]),
        (V, ['ocr', img, '--det', det_yml, '--rec', rec_yml, '--device', 'banana']),
        (V, ['ocr', img, '--det', det_yml, '--rec', rec_yml, '--crop-margin', 'x']),
        (V, ['ocr', img, '--det', det_yml, '--rec', rec_yml, '--backend', 'nope']),
        (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--device', 'banana']),
        (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--device', 'cuda:99']),
        (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--batch-size', '0']),
        (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--radius', 'big']),
        (V, ['pose', img, '--pose2d', 'horse']), (V, ['pose', img, '--pose2d', pose], 'maybe'),  # random weights
        (V, ['pose', nope, '--pose2d', pose, '--pose2d-weights', pck]),
        (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--det-model', nope]),
        (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--det-cat-ids', 'person']),
        ('tools/train.py', ['--nope']), ('tools/train.py', [nope]), ('tools/test.py', [cls]),
        ('tools/test.py', [cls, ck, '--launcher', 'x']),
        ('tools/eval.py', []), ('tools/eval.py', ['-c', nope]), ('tools/eval.py', ['-c', cls]),
        ('tools/eval.py', ['-c', det_yml]), ('tools/eval.py', ['-c', det_yml, '-o', 'Global.nope=1']),
        ('tools/eval.py', ['-c', det_yml, '-o', f'Global.checkpoints={nope}']),
        ('tools/infer_det.py', ['-c', det_yml]), ('tools/infer_det.py', ['-c', rec_yml, '-o', f'Global.infer_img={img}']),
        ('tools/infer_det.py', ['-c', det_yml, '-o', f'Global.infer_img={nope}', f'Global.pretrained_model={ck}']),
        ('tools/infer_rec.py', ['-c', rec_yml, '-o', f'Global.infer_img={a["empty_dir"]}', f'Global.pretrained_model={ck}']),
        ('tools/infer_rec.py', ['-c', rec_yml, '-o', f'Global.infer_img={img}', f'Global.pretrained_model={ck}']),
        ('tools/export_model.py', ['-c', det_yml]), ('tools/export_model.py', ['-c', det_yml, '-o', f'Global.pretrained_model={ck}']),
        ('tools/export_model.py', ['-c', det_yml, '-o', f'Global.pretrained_model={ck}', 'Global.save_inference_dir=ex']),
        ('tools/infer/predict_det.py', []), ('tools/infer/predict_det.py', ['--det_model_dir', nope, '--image_dir', img]),
        ('tools/infer/predict_det.py', ['--det_model_dir', str(a['empty_dir']), '--image_dir', img, '--use_gpu', 'maybe']),
        ('tools/infer/predict_det.py', ['--det_model_dir', str(a['empty_dir']), '--image_dir', img,
                                        '--det_algorithm', 'EAST']),
        ('tools/infer/predict_det.py', ['--det_model_dir', str(a['empty_dir']), '--image_dir', img,
                                        '--det_db_thresh', 'x']),
        ('tools/misc/ocr_eval.py', []), ('tools/misc/ocr_eval.py', [nope, nope, '--det', det_yml, '--rec', rec_yml]),
        ('tools/misc/download_dataset.py', ['--dataset-name', 'imagenet22k', '--save-dir', 'd']),
        ('tools/misc/download_dataset.py', ['--dataset-name']), ('tools/misc/download_dataset.py', ['--threads', 'x']),
        ('tools/misc/download_dataset.py', ['--dataset-name', 'voc2007', '--delete']),
        ('tools/dataset_converters/pascal_voc.py', [nope]), ('tools/dataset_converters/pascal_voc.py', [str(a['empty_dir'])]),
        ('tools/dataset_converters/pascal_voc.py', [str(a['empty_dir']), '--out-format', 'yolo']),
        ('tools/dataset_converters/cityscapes.py', [nope]), ('tools/dataset_converters/cityscapes.py', [str(a['empty_dir'])]),
        ('tools/dataset_converters/cityscapes.py', [str(a['empty_dir']), '--nproc', '0']),
        ('tools/dataset_converters/cityscapes.py', [str(a['empty_dir']), '--nproc', 'many']),
        ('tools/dataset_converters/images2coco.py', [nope, nope, 'o.json']),
        ('tools/dataset_converters/images2coco.py', [str(a['empty_dir']), nope, 'o.json']),
        ('tools/dataset_converters/images2coco.py', [str(a['root'] / 'imgs'), str(a['root'] / 'imgs'), 'o.json']),
        ('tools/dataset_converters/textdet/icdar2015.py', [nope]),
        ('tools/dataset_converters/textdet/icdar2015.py', [str(a['empty_dir']), '--img-dir', nope]),
        ('tools/dataset_converters/textdet/icdar2015.py', ['x', '--img-dir', nope, '--ann-dir', nope, '--out', 'o.json']),
        ('tools/dataset_converters/textdet/mmocr_to_paddle.py', [nope, 'o.txt']),
        ('tools/dataset_converters/textdet/mmocr_to_paddle.py', [str(a['empty_dir']), 'o.txt']),
        ('tools/dataset_converters/textdet/paddle_to_mmocr.py', [nope, 'o.json']),
        ('tools/dataset_converters/textdet/paddle_to_mmocr.py', [str(a['empty_dir']), 'o.json']),
        ('tools/dataset_converters/textrecog/crop_textdet.py', [nope, 'out']),
        ('tools/dataset_converters/textrecog/crop_textdet.py', [str(a['textdet'] / 'textdet_val.json'), 'out',
                                                                '--min-size', 'x']),
        ('tools/dataset_converters/textrecog/crop_textdet.py', [str(a['empty_dir']), 'out']),
        ('tools/dataset_converters/textrecog/lmdb_converter.py', [nope, 'lmdb']),
        ('tools/dataset_converters/textrecog/lmdb_converter.py', [str(a['empty_dir']), 'lmdb']),
        ('tools/dataset_converters/textrecog/lmdb_converter.py', [str(a['textrecog'] / 'val_label.txt'), 'lmdb',
                                                                  '--batch-size', '-1']),
        ('module:visioncraft.tasks.detection.models.convert_torchvision', [nope, 'o.pth']),
        ('module:visioncraft.tasks.detection.models.convert_torchvision', [ck, 'o.pth', '--arch', 'yolo']),
        ('module:visioncraft.tasks.detection.models.convert_torchvision', [ck, 'o.pth']),
        # no --device: 'auto' (CUDA when present, else the CPU) runs; the old default cuda:0 failed on a CPU machine
        ('demo/image_demo.py', [img, det, dck], 'ok'), ('demo/image_demo.py', [img, det, dck, '--device', 'banana']),
        ('demo/image_demo.py', [img, det, dck, '--device', 'cpu', '--score-thr', 'x']),
        ('demo/image_demo.py', [nope, det, dck, '--device', 'cpu']), ('demo/image_demo.py', [img, nope, dck, '--device', 'cpu']),
        ('demo/image_demo.py', [img, det, dck, '--device', 'cpu', '--out-file', str(a['root'] / 'nope' / 'o.xyz')]),
        ('demo/image_demo.py', [img, cls, ck, '--device', 'cpu', '--out-file', 'o.png'], 'maybe'),  # a classifier
        ('demo/pose_image_demo.py', [img, pose, pck], 'ok'),
        ('demo/pose_image_demo.py', [img, pose, pck, '--device', 'cuda:99']),
        ('demo/pose_image_demo.py', [img, pose, pck, '--device', 'cpu', '--out-file', 'o.unknownext']),
        ('demo/pose_image_demo.py', [img, det, dck, '--device', 'cpu', '--out-file', 'o.png']),
        ('demo/topdown_demo_with_detector.py', [det, dck, pose, pck, '--input', img], 'ok'),
        ('demo/topdown_demo_with_detector.py', [det, dck, pose, pck, '--input', nope, '--device', 'cpu']),
        ('demo/topdown_demo_with_detector.py', [det, dck, pose, pck, '--input', img, '--device', 'cpu',
                                                '--det-cat-id', 'x']),
        ('demo/video_demo.py', [img, det, dck, '--device', 'cpu']), ('demo/video_demo.py', [nope, det, dck, '--out', 'o.mp4']),
        ('demo/video_demo.py', [img, det, dck, '--out', 'o.mp4'], 'maybe'),  # an image read as a 1-frame video
        ('demo/video_gpuaccel_demo.py', [img, det, dck, '--out', 'o.mp4', '--nvdecode']),
        ('demo/video_gpuaccel_demo.py', [img, det, dck, '--out', 'o.mp4', '--batch-size', '0']),
        ('demo/video_gpuaccel_demo.py', [nope, det, dck, '--out', 'o.mp4', '--device', 'cpu']),
        ('demo/webcam_demo.py', [det, dck, '--device', 'cpu']),
        ('demo/webcam_demo.py', [det, dck, '--device', 'cpu', '--camera-id', nope, '--out', 'o.mp4']),
        ('demo/webcam_demo.py', [det, dck, '--device', 'banana', '--out', 'o.mp4']),
    ]
    if cpu_only:
        table += [('demo/image_demo.py', [img, det, dck, '--device', 'cuda:0', '--out-file', 'o.png']),
                  ('demo/pose_image_demo.py', [img, pose, pck, '--device', 'cuda', '--out-file', 'o.png']),
                  (V, ['pose', img, '--pose2d', pose, '--pose2d-weights', pck, '--device', 'cuda']),
                  (V, ['ocr', img, '--det', det_yml, '--rec', rec_yml, '--device', 'cuda:0']),
                  ('demo/video_demo.py', [str(a['img']), det, dck, '--out', 'o.mp4', '--device', 'cuda:0'])]
    cases = []
    for i, (entry, argv, *expect) in enumerate(table):
        cases.append(Case(f'flags/{i}_{entry.split("/")[-1]}_{"_".join(x[-12:] for x in argv[:1])}', entry,
                          list(argv), expect=expect[0] if expect else 'fail'))
    return cases


def control_cases(a) -> list[Case]:
    """Valid inputs: the same entry points exit 0 (so the fuzz cases fail for the reason they were built for)."""
    return [
        Case('ok/config', 'visioncraft', ['config', str(a['cls'])], expect='ok'),
        Case('ok/test_det', 'visioncraft', ['test', str(a['det']), str(a['det_ckpt']), '--work-dir', 'wd'], expect='ok'),
        Case('ok/test_pose', 'visioncraft', ['test', str(a['pose']), str(a['pose_ckpt']), '--work-dir', 'wd'],
             expect='ok'),
        Case('ok/image_demo', 'demo/image_demo.py', [str(a['img']), str(a['det']), str(a['det_ckpt']), '--device', 'cpu',
                                                     '--out-file', 'o.png'], expect='ok'),
        Case('ok/crop_textdet', 'tools/dataset_converters/textrecog/crop_textdet.py',
             [str(a['textdet'] / 'textdet_val.json'), 'crops'], expect='ok'),
        Case('ok/quickstart_det_test_in_clean_dir', 'visioncraft',
             ['test', str(REPO / 'configs/quickstart/det_shapes.py'), str(a['root'] / 'quickstart_det.pth'),
              '--work-dir', 'wd', '-o', 'test_dataloader.dataset.num_train=2', 'test_dataloader.dataset.num_val=2'],
             expect='ok'),
    ]


def all_cases(a) -> list[Case]:
    rng = random.Random(SEED)
    cases = (config_cases(a, rng) + checkpoint_cases(a, rng) + image_cases(a, rng) + annotation_cases(a, rng)
             + flag_cases(a, rng) + control_cases(a))
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    return cases


@pytest.fixture(scope='module')
def cases(assets):
    from visioncraft.registry import MODELS
    model = MODELS.build(Config.fromfile(REPO / 'configs/quickstart/det_shapes.py').model)
    torch.save({'state_dict': model.state_dict()}, assets['root'] / 'quickstart_det.pth')
    return all_cases(assets)


def test_every_entry_point_rejects_broken_input_with_one_line(assets, cases, tmp_path):
    """>= 300 seeded cases in this process: exit status 2 and one ``error:`` line (or a clean usage error), no
    traceback, no hang, nothing written outside the case's folder and the temporary folder."""
    install_write_watch()
    allowed = temp_roots(assets['root'], tmp_path)
    failures, t0, slowest = [], time.perf_counter(), []
    for i, case in enumerate(cases):
        cwd = tmp_path / f'case_{i}'
        cwd.mkdir()
        env = dict(case.env, MPLCONFIGDIR=str(tmp_path / 'mpl'), TORCH_HOME=str(tmp_path / 'torch'))
        res = run_in_process(Case(case.name, case.entry, case.argv, case.expect, case.words, env), cwd, allowed)
        slowest.append((res.seconds, case.name))
        if os.environ.get('FUZZ_DUMP'):  # every case's outcome, to read the messages
            with open(os.environ['FUZZ_DUMP'], 'a', encoding='utf-8') as f:
                last = [ln for ln in res.err.splitlines() if ln.strip()][-1:] or ['']
                f.write(f'{case.name}\t{res.code}\t{last[0][:400]}\n')
        problem = check(case, res) if case.expect != 'maybe' else \
            check(Case(case.name, case.entry, case.argv, 'error' if res.code else 'ok'), res)
        if problem:
            failures.append(f'--- {case.name}: {case.entry} {" ".join(case.argv)}\n{problem}')
    seconds = time.perf_counter() - t0
    assert not (assets['root'] / 'PICKLE_EXECUTED').exists(), 'a checkpoint pickle ran code while loading'
    print(f'\n{len(cases)} fuzz cases in {seconds:.1f} s; slowest: '
          + ', '.join(f'{n} {s:.1f}s' for s, n in sorted(slowest, reverse=True)[:5]))
    assert len(cases) >= MIN_CASES
    assert not failures, f'{len(failures)} of {len(cases)} cases failed:\n' + '\n'.join(failures)


#: cases also run as real processes (the console script, tools/*.py, demo/*.py, ``python -m``): the same outcome
#: one case per kind of entry point (each costs an interpreter start with torch, ~5 s here): the console script's
#: config / train paths (Ctrl-C included), tools/test.py, the demos, a dataset converter, a tools/misc script
SUBPROCESS_CASES = (
    'ckpt/test_evil.pth', 'config/special_interrupt.py', 'img/image_demo_folder.png', 'img/pose_demo_huge.png',
    'ann/voc_0', 'ann/ocr_eval_0', 'ann/train_filtered_empty',
)


def _subprocess_extra(cases: list[Case]) -> list[Case]:
    """Flag cases (named by their position in the table) picked by what they run."""
    def first(pred):
        return next(c for c in cases if pred(c))
    picked = [first(lambda c: c.entry.startswith('module:') and c.argv[0].endswith('x.png')),  # python -m
              # tools/test.py on a random-bytes checkpoint: which of them is sampled follows the seeded draws
              next((c for c in cases if c.name.startswith('ckpt/tools_test_random_')), None)
              or first(lambda c: c.name.startswith('ckpt/tools_test_'))]
    if not torch.cuda.is_available():
        picked.append(first(lambda c: c.entry == 'demo/image_demo.py' and 'cuda:0' in c.argv))
    return picked


@pytest.mark.slow
def test_real_entry_points_behave_the_same(assets, cases, tmp_path):
    """A sample of the cases as real processes: the console script / scripts print the same one line, exit 2 (130
    after Ctrl-C), write nothing outside their folders; with VISIONCRAFT_DEBUG=1 the traceback is back."""
    from concurrent.futures import ThreadPoolExecutor
    by_name = {c.name: c for c in cases}
    chosen = [by_name[n] for n in SUBPROCESS_CASES] + _subprocess_extra(cases)
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    allowed = temp_roots(assets['root'], tmp_path)
    top_before = {p.name for p in REPO.iterdir()}
    jobs = [(c, False) for c in chosen] + [(by_name['ckpt/test_evil.pth'], True)]

    def run(job):
        case, debug = job
        cwd = tmp_path / f'proc_{len(case.name)}_{abs(hash((case.name, debug))) % 10 ** 8}'
        cwd.mkdir()
        env = dict(case.env, MPLCONFIGDIR=str(tmp_path / 'mpl'), TORCH_HOME=str(tmp_path / 'torch'))
        return case, debug, run_subprocess(Case(case.name, case.entry, case.argv, case.expect, case.words, env),
                                           cwd, allowed, site, debug=debug)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, jobs))
    failures = []
    for case, debug, res in results:
        if debug:
            if res.code in (0, None) or 'Traceback (most recent call last)' not in res.err:
                failures.append(f'--- {case.name} with {DEBUG}=1: expected a traceback and a failure status, got '
                                f'{res.code}:\n{res.err[-1500:]}')
            continue
        problem = check(case, res)
        if problem:
            failures.append(f'--- {case.name}: {" ".join(case.argv)}\n{problem}')
    new_top = {p.name for p in REPO.iterdir()} - top_before
    print(f'\n{len(jobs)} entry points as subprocesses in {time.perf_counter() - t0:.1f} s')
    assert not new_top, f'files appeared in the repository: {sorted(new_top)}'
    assert not failures, '\n'.join(failures)
