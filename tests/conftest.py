"""Shared fixtures: a tiny generated shapes dataset and a config factory for short real runs."""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import re
from pathlib import Path

import pytest
import numpy as np
import torch

from visioncraft.structures import DataSample, InstanceData

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """One intra-op thread for the in-process tests: their models are tiny, so a second thread buys little on a
    quiet machine and, on a busy 2-core one (or next to the DataLoader workers some tests start), costs up to
    10x in contention. Subprocess tests keep torch's default. An explicit ``OMP_NUM_THREADS`` (a positive
    integer) is used instead: CI runs the fast tests a second time with ``OMP_NUM_THREADS=2``, so that no test
    depends on the thread count."""
    torch.set_num_threads(_threads_from_env(os.environ.get('OMP_NUM_THREADS')))


def _randomly_seed_line(config) -> str | None:
    """pytest-randomly's header line when it is active (`-p randomly`); None otherwise."""
    if not config.pluginmanager.hasplugin('randomly'):
        return None
    return f"Using --randomly-seed={config.getoption('randomly_seed')}"


def pytest_sessionstart(session):
    """The random order's seed, also under -q (which hides pytest-randomly's header line)."""
    line = _randomly_seed_line(session.config)
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if line and reporter is not None and session.config.get_verbosity() < 0:
        reporter.write_line(line)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """... and again at the end, next to the failures it may explain."""
    line = _randomly_seed_line(config)
    if line:
        terminalreporter.write_line(f'{line} (pass `-p randomly` and that option to rerun this order)')


def _threads_from_env(value: str | None) -> int:
    try:
        n = int(value) if value is not None else 1
    except ValueError:
        return 1
    return n if n > 0 else 1


@pytest.fixture(autouse=True)
def _reset_default_scope():
    """A Runner sets the registry's default scope from its config (a pose config: 'mmpose') for the rest of the
    process, as MMEngine does; every test starts and ends without one."""
    from visioncraft.registry import set_default_scope
    set_default_scope(None)
    yield
    set_default_scope(None)


@pytest.fixture(autouse=True)
def _restore_visioncraft_logger():
    """A Runner (re)configures the ``visioncraft`` logger for the rest of the process (``setup_logger``): no
    propagation, and a console handler on the ``sys.stdout`` of that moment, which under ``capsys`` is a stream
    closed once that test ends, so that a later test's log line prints '--- Logging error --- Traceback' into
    that test's stderr (seen with `-p randomly --randomly-seed=7`: test_ocr_inferencer's one-line-error checks
    failed after a Runner test). Every test ends with the logger as it found it, the handlers it added closed."""
    import logging
    logger = logging.getLogger('visioncraft')
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    for h in list(logger.handlers):
        if h not in handlers:
            logger.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in logger.handlers:
            logger.addHandler(h)
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory) -> Path:
    from visioncraft.data.synthetic.shapes import generate_shapes_classification
    root = tmp_path_factory.mktemp('data') / 'shapes'
    generate_shapes_classification(root, num_train=48, num_val=21, size=16, seed=3)
    return root


def tiny_cfg(work_dir, data_root, **over) -> dict:
    """A complete, small training config (TinyClassifier on 16x16 shapes, 6 iterations an epoch)."""
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='RandomFlip', prob=[0.3, 0.3], direction=['horizontal', 'vertical']),
                dict(type='PackInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    ds = dict(type='ShapesClassificationDataset', data_root=str(data_root), generate=False)
    cfg = dict(
        work_dir=str(work_dir),
        model=dict(type='TinyClassifier', num_classes=4, widths=(8, 16), norm='gn', dropout=0.2,
                   data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3)),
        train_dataloader=dict(batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=dict(ds, ann_file='train.json', pipeline=pipeline)),
        val_dataloader=dict(batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                            dataset=dict(ds, ann_file='val.json', pipeline=test_pipeline, test_mode=True)),
        val_evaluator=dict(type='Accuracy'),
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.2, by_epoch=False, begin=0, end=4),
                         dict(type='MultiStepLR', milestones=[2], gamma=0.5, by_epoch=True)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=7),
    )
    cfg['test_dataloader'] = copy.deepcopy(cfg['val_dataloader'])
    cfg['test_evaluator'] = dict(type='Accuracy')
    cfg['test_cfg'] = dict()
    for k, v in over.items():
        cfg[k] = v
    return cfg


def read_scalars(work_dir) -> list[dict]:
    """Every scalars.json line of every run under work_dir, oldest run first."""
    rows = []
    for f in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        rows += [json.loads(line) for line in f.read_text().splitlines()]
    return rows


#: the data loaders of a config
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def quickstart_det_options(root: Path, num_train: int = 4, num_val: int = 3) -> list[str]:
    """--cfg-options that move configs/quickstart/det_shapes.py's generated pictures to ``root`` and shrink them to
    ``num_train`` + ``num_val`` (every loader and evaluator must agree, or one dataset would regenerate the folder
    with the other's settings), batch 2, no worker processes."""
    opts = []
    for loader in LOADERS:
        ds = f'{loader}.dataset'
        opts += [f'{ds}.data_root={root}', f'{ds}.num_train={num_train}', f'{ds}.num_val={num_val}',
                 f'{loader}.batch_size=2', f'{loader}.num_workers=0']
    opts += ['train_dataloader.persistent_workers=False']
    opts += [f'{ev}.ann_file={root}/annotations/instances_val.json' for ev in ('val_evaluator', 'test_evaluator')]
    return opts


def run_ppocr_onnx(name: str, x: torch.Tensor) -> np.ndarray:
    """The first output of the official ONNX file of the PP-OCR model ``name`` (rapidocr-onnxruntime's, a test
    extra) on ``x``, on the CPU with one thread."""
    import onnxruntime as ort  # here: a test extra, imported only by the tests that skip without it

    from visioncraft.apis.ppocr_weights import PPOCR_MODELS, rapidocr_model_path
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(rapidocr_model_path(PPOCR_MODELS[name].onnx_file)), opts,
                                providers=['CPUExecutionProvider'])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def train_losses(work_dir) -> dict[int, float]:
    """iteration -> logged loss (needs LoggerHook interval=1)."""
    return {r['iter']: r['loss'] for r in read_scalars(work_dir) if 'loss' in r}


def log_text(work_dir) -> str:
    return '\n'.join(f.read_text() for f in sorted(Path(work_dir).glob('*/*.log')))


@pytest.fixture
def make_cfg(shapes_root, tmp_path):
    def _make(name='run', **over):
        return tiny_cfg(tmp_path / name, shapes_root, **over)
    return _make


def strip_ansi(s: str) -> str:
    return re.sub(r'\x1b\[[0-9;]*m', '', s)


def tiny_retinanet(**over) -> dict:
    """A RetinaNet small enough for CPU tests: ResNet-18, 32-channel FPN and head, 3 classes."""
    cfg = dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=18, frozen_stages=1),
        neck=dict(type='FPN', out_channels=32, start_level=1, add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(type='RetinaHead', num_classes=3, feat_channels=32, stacked_convs=2,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                             ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0)),
        test_cfg=dict(nms_pre=100, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10),
    )
    cfg.update(over)
    return cfg


def det_batch(n=2, size=64):
    """Packed-style batch: uint8 BGR images and data samples with 1-2 boxes."""
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(n):
        h, w = size, size - 8 * i
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g))
        boxes = torch.tensor([[4.0, 6.0, 30.0, 40.0], [20.0, 10.0, 50.0, 30.0]])[: 1 + i % 2]
        gt = InstanceData(bboxes=boxes, labels=torch.tensor([0, 2])[: len(boxes)])
        samples.append(DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h // 2, w // 2), scale_factor=(2.0, 2.0)),
                                  gt_instances=gt))
    return dict(inputs=inputs, data_samples=samples)


def tiny_faster_rcnn(**over) -> dict:
    """A Faster R-CNN small enough for CPU tests: ResNet-18, 32-channel FPN (P2-P6), RPN, 64-wide 2-FC box
    head, 3 classes, few sampled anchors / RoIs."""
    cfg = dict(
        type='FasterRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=18, frozen_stages=1),
        neck=dict(type='FPN', out_channels=32, num_outs=5),
        rpn_head=dict(type='RPNHead', feat_channels=32,
                      anchor_generator=dict(type='AnchorGenerator', scales=[4], ratios=[0.5, 1.0, 2.0],
                                            strides=[4, 8, 16, 32, 64])),
        roi_head=dict(type='StandardRoIHead',
                      bbox_roi_extractor=dict(type='SingleRoIExtractor', featmap_strides=[4, 8, 16, 32],
                                              roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)),
                      bbox_head=dict(type='Shared2FCBBoxHead', num_classes=3, fc_out_channels=64)),
        train_cfg=dict(rpn=dict(sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5,
                                             add_gt_as_proposals=False)),
                       rpn_proposal=dict(nms_pre=200, max_per_img=100, nms=dict(type='nms', iou_threshold=0.7)),
                       rcnn=dict(sampler=dict(type='RandomSampler', num=64, pos_fraction=0.25))),
        test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7)),
                      rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)),
    )
    cfg.update(over)
    return cfg


def tiny_mask_rcnn(**over) -> dict:
    """:func:`tiny_faster_rcnn` with a 2-conv 32-channel FCNMaskHead (7 x 7 RoIs -> 14 x 14 masks)."""
    cfg = tiny_faster_rcnn(type='MaskRCNN')
    cfg['roi_head'] = dict(cfg['roi_head'],
                           mask_roi_extractor=dict(type='SingleRoIExtractor', featmap_strides=[4, 8, 16, 32],
                                                   roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)),
                           mask_head=dict(type='FCNMaskHead', num_classes=3, num_convs=2, roi_feat_size=7,
                                          conv_out_channels=32))
    cfg.update(over)
    return cfg


def det_batch_with_masks(n=2, size=64):
    """:func:`det_batch` whose gt_instances also carry masks: a BitmapMasks (filled boxes) on even images,
    a PolygonMasks (a triangle in each box) on odd ones."""
    from visioncraft.structures import BitmapMasks, PolygonMasks
    batch = det_batch(n, size)
    for i, (img, sample) in enumerate(zip(batch['inputs'], batch['data_samples'])):
        h, w = img.shape[-2:]
        boxes = sample.gt_instances.bboxes
        if i % 2 == 0:
            m = torch.zeros((len(boxes), h, w), dtype=torch.uint8)
            for k, (x1, y1, x2, y2) in enumerate(boxes.round().long().tolist()):
                m[k, y1:y2, x1:x2] = 1
            masks = BitmapMasks(m.numpy(), h, w)
        else:
            masks = PolygonMasks([[[x1, y1, x2, y1, x1, y2]] for x1, y1, x2, y2 in boxes.tolist()], h, w)
        sample.gt_instances.masks = masks
    return batch


def randomise_batchnorm(body, inputs, generator):
    """Give a random-init torchvision backbone ``body`` varied BatchNorm affines (from ``generator``) and running
    statistics measured on ``inputs`` (N x 3 x H x W), then put it in eval mode: the parity tests' way of
    making random-init models produce varied, well-scaled features."""
    for m in body.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
            m.weight.data.uniform_(0.5, 1.5, generator=generator)
            m.bias.data.uniform_(-0.2, 0.2, generator=generator)
    body.train()
    with torch.no_grad():
        body(inputs)
    body.eval()


def model_cfg_without_pretrained(cfg) -> dict:
    """A loaded config's ``model`` as a plain dict with the backbone's ``init_cfg`` dropped, so that building it
    downloads nothing (the config tests build every shipped recipe)."""
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    model['backbone'] = {k: v for k, v in dict(model['backbone']).items() if k != 'init_cfg'}
    return model


def load_converted(model, state_dict):
    """Load a converted state dict into ``model``: every key must match (no missing, no unexpected); eval mode."""
    report = model.load_state_dict(state_dict, strict=False)
    assert not report.missing_keys and not report.unexpected_keys, report
    return model.eval()


def build_converted(cfg: dict, state_dict):
    """Build ``cfg`` from MODELS and :func:`load_converted` ``state_dict`` into it (the parity tests' models)."""
    from visioncraft.registry import MODELS
    return load_converted(MODELS.build(cfg), state_dict)


# -- tiny OCR models shared by the export and end-to-end OCR tests -------------------------------------------
# Their trained weights are tests/data/weights/tiny_dbnet.pth and tiny_crnn.pth (tests/data/make_test_weights.py
# trains them on the data below). The data use Pillow's bundled font only: fonts='auto' would also draw with
# whatever DejaVu fonts a machine has, so the scenes (and what a model finds in them) would depend on the machine.
TINY_TEXTDET_DATA = dict(num_train=12, num_val=3, size=(128, 128), seed=0, fonts='default')
TINY_TEXTRECOG_DATA = dict(num_train=24, num_val=2, seed=0, max_len=6, word_ratio=0.5,
                           charset='abcdefghijklmnopqrstuvwxyz0123456789', fonts='default')
TINY_DBNET = dict(
    type='DBNet',
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, bgr_to_rgb=True,
                           pad_size_divisor=32),
    backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(16, 24, 32, 48), depths=(1, 1, 1, 1),
                  out_indices=(0, 1, 2, 3)),
    neck=dict(type='FPNC', in_channels=[16, 24, 32, 48], lateral_channels=16, out_channels=8),
    det_head=dict(type='DBHead', in_channels=32,
                  codec=dict(type='DBCodec', thresh=0.3, box_thresh=0.3, unclip_ratio=None, max_candidates=100)))
# Resize with keep_ratio: sizes that are not multiples of 32 (so the data preprocessor pads) and scale factors != 1
TINY_DBNET_TEST_PIPELINE = [
    dict(type='LoadImageFromFile'), dict(type='Resize', scale=(192, 160), keep_ratio=True),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
TINY_CRNN = dict(
    type='CRNN', data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5]),
    backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1, widths=(8, 16, 24, 24, 32, 32, 32),
                  norm_all=True),
    encoder=dict(type='BiLSTMEncoder', hidden_channels=24, num_layers=2, shortcut=True),
    decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=dict(
        type='Dictionary', builtin='lower_english_digits', case='lower'))))


# Saved weights of the tiny models the tests need trained (tests/data/weights, written by
# tests/data/make_test_weights.py): no test trains a model and then asserts on what it learnt, because the
# training trajectory (and so what the model finds) depends on the CPU's floating-point kernels and the thread
# count. A forward pass with fixed weights differs across CPUs by float noise only (~1e-6), far below the
# margins the tests' guards keep (the script prints them).
WEIGHTS_DIR = REPO / 'tests' / 'data' / 'weights'


def saved_state_dict(name: str) -> dict[str, torch.Tensor]:
    """``tests/data/weights/<name>.pth``: a bare state dict, read with ``torch.load(weights_only=True)``."""
    path = WEIGHTS_DIR / f'{name}.pth'
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing: run `python tests/data/make_test_weights.py {name}`')
    return torch.load(path, map_location='cpu', weights_only=True)


def model_with_saved_weights(model_cfg: dict, name: str) -> torch.nn.Module:
    """``model_cfg`` built from MODELS with :func:`saved_state_dict` ``(name)`` loaded (every key must match),
    in eval mode."""
    from visioncraft.registry import MODELS
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.load_state_dict(saved_state_dict(name), strict=True)
    return model.eval()


def gradient_step(model: torch.nn.Module, loss_fn, rel_drop: float = 0.003) -> tuple[float, float]:
    """``(predicted, actual)`` decrease of ``loss_fn()`` (a scalar tensor) over one step of plain gradient descent
    on ``model``'s trainable parameters, ``theta - lr * g`` with ``g`` the gradient at ``theta``: ``lr`` is chosen
    so that the first-order decrease ``lr * |g|^2`` is ``rel_drop`` of the loss. The model's parameters and buffers
    (BatchNorm statistics) are restored afterwards. ``torch.manual_seed(0)`` before both evaluations: samplers and
    dropout draw the same numbers at both points.

    This is how the tests check that a model learns without asserting on a training trajectory: the gradient
    the backward pass computes is the loss's gradient (a wrong backward fails: the loss would not fall by the
    first-order amount), and stepping along it lowers the loss. It holds on every CPU and thread count: float
    noise (~1e-6 of the loss) is far below a ``rel_drop`` decrease, and the actual / predicted ratio only depends
    on the loss's curvature at the seeded initialisation."""
    params = [p for p in model.parameters() if p.requires_grad]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    loss0 = loss_fn()
    loss0.backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]
    sq = sum(float(g.double().pow(2).sum()) for g in grads)
    before = float(loss0.detach())
    assert sq > 0 and math.isfinite(sq), f'no usable gradient (|g|^2 = {sq})'
    lr = rel_drop * before / sq
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(lr * g)
        torch.manual_seed(0)
        after = float(loss_fn().detach())
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return rel_drop * before, before - after


def assert_gradient_step_lowers_loss(model: torch.nn.Module, loss_fn, rel_drop: float = 0.003,
                                     ratio: tuple[float, float] = (0.75, 1.25)) -> float:
    """:func:`gradient_step`, asserting that the actual decrease is ``ratio[0]`` to ``ratio[1]`` times the
    first-order prediction; returns that ratio. (Measured for the tests' models: 0.88 to 1.01, the same to four
    decimals at 1 and 2 threads; a wrong gradient gives a ratio far from 1, often negative.)"""
    predicted, actual = gradient_step(model, loss_fn, rel_drop)
    got = actual / predicted
    assert ratio[0] <= got <= ratio[1], (f'a gradient step of first-order decrease {predicted:.4g} changed the loss '
                                         f'by {actual:.4g} (ratio {got:.3f}, want {ratio[0]} to {ratio[1]})')
    return got


# -- small random-init torchvision detectors for the parity tests -------------------------------------------
def seeded_images(sizes, seed: int = 2) -> list[torch.Tensor]:
    """RGB float images in [0, 1], one per (h, w) in ``sizes``, from a generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=g) for h, w in sizes]


def small_tv_detector(arch: str, min_size: int, max_size: int):
    """torchvision's random-init ``{arch}_resnet50_fpn`` (91 classes, no weights) resizing images to
    ``min_size`` / ``max_size``; ``torch.manual_seed(0)`` first, so every test builds the same one."""
    import torchvision
    torch.manual_seed(0)
    tv = getattr(torchvision.models.detection, f'{arch}_resnet50_fpn')(weights=None, weights_backbone=None,
                                                                        num_classes=91)
    tv.transform.min_size = (min_size,)
    tv.transform.max_size = max_size
    return tv


@torch.no_grad()
def sharpen_retinanet_head(head, generator) -> None:
    """Sharper classifier / regressor weights and varied class biases: varied, confident detections."""
    head.classification_head.cls_logits.weight.mul_(60)
    head.classification_head.cls_logits.bias.normal_(-3.0, 1.0, generator=generator)
    head.regression_head.bbox_reg.weight.mul_(20)


@torch.no_grad()
def sharpen_fcos_head(head, generator, cls_bias_mean: float = -3.0) -> None:
    """Varied GroupNorm affines and sharper classifier / regressor / centerness weights. GroupNorm keeps the
    towers' outputs O(1): a few times the init std gives confident but unsaturated (distinct) scores, so the
    detections have one well-defined order to compare in."""
    for m in head.modules():
        if isinstance(m, torch.nn.GroupNorm):
            m.weight.uniform_(0.5, 1.5, generator=generator)
            m.bias.uniform_(-0.2, 0.2, generator=generator)
    head.classification_head.cls_logits.weight.mul_(4)
    head.classification_head.cls_logits.bias.normal_(cls_bias_mean, 1.0, generator=generator)
    head.regression_head.bbox_reg.weight.mul_(10)
    head.regression_head.bbox_reg.bias.fill_(1.5)
    head.regression_head.bbox_ctrness.weight.mul_(3)


@torch.no_grad()
def sharpen_rcnn_heads(tv_model, generator) -> None:
    """Sharper objectness / classifier / regressor (/ mask) logits and varied class biases of a torchvision
    Faster / Mask R-CNN."""
    tv_model.rpn.head.cls_logits.weight.mul_(50)
    tv_model.rpn.head.bbox_pred.weight.mul_(10)
    pred = tv_model.roi_heads.box_predictor
    pred.cls_score.weight.mul_(20)
    pred.cls_score.bias.normal_(0.0, 2.0, generator=generator)
    pred.cls_score.bias[0] = 2.0  # background: plenty of RoIs score low
    pred.bbox_pred.weight.mul_(20)
    if getattr(tv_model.roi_heads, 'mask_predictor', None) is not None:
        tv_model.roi_heads.mask_predictor.mask_fcn_logits.weight.mul_(10)


def pose_batch_maker(codec: dict, input_size=(48, 64)):
    """``make(n)``: a top-down pose batch of ``n`` crops (uint8 3 x h x w inputs, 3 keypoints each, targets
    encoded by ``codec``, metainfo for mapping back to image pixels), as PackPoseInputs would give."""
    def make(n=2):
        from visioncraft.registry import KEYPOINT_CODECS
        enc = KEYPOINT_CODECS.build(codec)
        w, h = input_size
        g = torch.Generator().manual_seed(0)
        inputs, samples = [], []
        for i in range(n):
            kpts = np.array([[[w / 2, h / 4 + i], [w / 3, h * 0.6], [w * 2 / 3, h * 0.7]]], np.float32)
            targets = enc.encode(kpts, np.ones((1, 3), np.float32))
            center, scale = np.array([50.0 + i, 60.0], np.float32), np.array([w * 2.0, h * 2.0], np.float32)
            s = DataSample(metainfo=dict(img_id=i, id=i, ori_shape=(200, 160), img_shape=(200, 160),
                                         input_size=(w, h), input_center=center, input_scale=scale,
                                         flip_indices=[0, 2, 1]),
                           gt_instances=InstanceData(bboxes=torch.tensor([[10.0, 20.0, 90.0, 100.0]]),
                                                     bbox_scores=torch.ones(1), keypoints=torch.from_numpy(kpts),
                                                     keypoints_visible=torch.ones(1, 3)))
            labels = {k: torch.from_numpy(np.asarray(v)) for k, v in targets.items() if k != 'heatmaps'}
            s.gt_instance_labels = InstanceData(**labels)
            if 'heatmaps' in targets:
                s.gt_heatmaps = torch.from_numpy(targets['heatmaps'])
            samples.append(s)
            inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g))
        return dict(inputs=inputs, data_samples=samples)
    return make


def tiny_det_model(num_classes: int) -> dict:
    """The smallest RetinaNet that trains end to end in a subprocess in a second or two (TinyDetBackbone, two
    FPN levels, one head conv): for tests of what happens around training, not of what it learns."""
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(8, 16, 16), depths=(0, 0, 0),
                      out_indices=(1, 2)),
        neck=dict(type='FPN', in_channels=[16, 16], out_channels=16, num_outs=2),
        bbox_head=dict(type='RetinaHead', num_classes=num_classes, feat_channels=16, stacked_convs=1,
                       anchor_generator=dict(type='AnchorGenerator', strides=[8, 16], ratios=[1.0],
                                             sizes=[(12, 17), (24, 34)])),
        test_cfg=dict(nms_pre=50, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10),
    )


@contextlib.contextmanager
def visioncraft_warnings():
    """The WARNING records of the ``visioncraft`` logger within the block, from a handler of that logger itself: each
    warning once, whatever the root logger's handlers are (through the root, pytest's capture saw one warning twice
    in one random test order)."""
    records: list = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger('visioncraft')
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
