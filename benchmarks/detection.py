"""Our R50-FPN detectors against torchvision's: inference time, training-step time and peak memory.

``--model fasterrcnn`` (default; torchvision's ``fasterrcnn_resnet50_fpn`` v1) or ``--model retinanet``
(``retinanet_resnet50_fpn`` v1). Both models are built in this process from the same weights:
torchvision's model (``weights=None``, seeded), made realistic, then converted into ours with the
converters in ``visioncraft.tasks.detection.models.convert_torchvision``. "Realistic": the ResNet's
BatchNorm statistics are computed from the benchmark images (one forward in train mode), then frozen into
``FrozenBatchNorm2d`` (torchvision's choice with pretrained weights); the classifier is sharpened so that
post-processing has detections above the score threshold (their number is printed). Both train as
torchvision fine-tunes from ImageNet: FrozenBatchNorm2d everywhere, stem and stage 1 frozen (torchvision
``trainable_backbone_layers=3``; ours ``frozen_stages=1``, ``norm_cfg=dict(type='FrozenBN')``, from
``torchvision_*_config(frozen_bn=True)``, so our ResNet folds the norms and runs channels-last on CPU).

Inputs: ``--batch`` images of ``--size H W`` pixels (default 2 x 512 x 640, 1 x with ``--against mmdet``;
divisible by 64 as torchvision's P6 anchors need; ``--size 800 1333`` is the COCO size), the same pixels for both:
torchvision gets float RGB in [0, 1] (its API), ours uint8 BGR (what our pipeline packs). Neither
resizes: torchvision's ``GeneralizedRCNNTransform.resize`` is replaced by the identity (the images
already have the size the model should see), so both do the same work: normalise, pad to a multiple of
32, network, post-processing (decode, score threshold, NMS, rescale to the original size).

(a) inference: eval mode, ``torch.no_grad()``, the full predict path: ``tv(images)`` against
    ``ours.val_step(dict(inputs=..., data_samples=...))`` (data preprocessor + predict).
(b) one training step: forward with targets (8 random boxes per image), sum of the losses, backward,
    ``SGD(lr=1e-4, momentum=0.9, weight_decay=1e-4)`` step over the trainable parameters.
(c) peak memory. CPU: torch has no allocator statistics there, so every (model, mode) pair runs in a
    subprocess of its own that builds the model, resets the kernel's peak-RSS counter
    (``/proc/self/clear_refs``), runs ``--mem-iters`` calls and reports the peak RSS (``VmHWM``) minus the
    RSS at the reset: the memory the calls needed on top of the built model. CUDA:
    ``torch.cuda.max_memory_allocated()`` minus the allocation before the calls, in this process.

Timings alternate between the two models (ABBA order, so slow spells of a shared machine hit both),
after ``--warmup`` untimed calls of each; medians are reported and the ratios ours / torchvision
(target <= 0.9). On CPU the process CPU time of each call is reported too: on a machine shared with
other jobs it is less noisy than the wall clock (which counts time spent waiting for a core).
``--device cuda --amp`` runs both under fp16 autocast (training with a GradScaler).

``--against mmdet`` (Faster R-CNN): the reference is MMDetection's own model instead of torchvision's, built from
the config bundled in the installed mmdet (``faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py``, pretrained init
stripped, its ``init_weights()`` run), ours from our config of the same name. Weights: MMDetection's model, seeded,
its backbone's BatchNorm statistics computed from the benchmark images and its R-CNN regressor enlarged (its
initial classifier already gives ``max_per_img`` detections above the score threshold), then its state dict loaded into
ours through our checkpoint loader (``load_model_weights``, which renames upstream keys; every key must fit). Both
run the configs' own settings (eval-mode BatchNorm, ``norm_eval``, stem + stage 1 frozen, the same ``test_cfg``),
get the same uint8 BGR images through their data preprocessors, and the same boxes with labels in 0..79 for the
training step. Needs mmdet (and mmcv with its ops) importable: run with the python of a venv that has them and
VisionCraft installed ``--no-deps`` (docs/benchmarks.md). ``--enable fold_bn,channels_last`` switches our
backbone's speed-ups on for a config that leaves them off (BN rather than FrozenBN).

    python benchmarks/detection.py [--model retinanet|fasterrcnn] [--size 512 640] [--batch 2]
        [--repeats 5] [--warmup 3] [--threads N] [--device cpu|cuda] [--amp] [--json FILE]
        [--disable fold_bn,channels_last]   (switch our backbone's speed-ups off, to see what each buys)
        [--against torchvision|mmdet] [--enable fold_bn,channels_last]
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models import convert_torchvision as conv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _upstream import our_model, require_upstream, upstream_model, vary_batchnorm  # noqa: E402

MODEL_KINDS = ('retinanet', 'fasterrcnn')
AGAINST = ('torchvision', 'mmdet')
#: --against mmdet: model kind -> (config under mmdet/.mim/configs, our config of the same name)
MMDET_CONFIGS = {'fasterrcnn': ('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
                                'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')}


# -- models -----------------------------------------------------------------------------------------
def _tv_detector(kind: str, norm_layer) -> nn.Module:
    """torchvision's R50-FPN detector with ``norm_layer`` and trainable_backbone_layers=3 (weights=None)."""
    body = torchvision.models.resnet50(weights=None, norm_layer=norm_layer)
    det = torchvision.models.detection
    if kind == 'retinanet':
        backbone = _resnet_fpn_extractor(body, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
        return det.RetinaNet(backbone, num_classes=91)
    backbone = _resnet_fpn_extractor(body, 3)
    return det.FasterRCNN(backbone, num_classes=91)


def _no_resize(image, target=None):
    return image, target


def build_models(kind: str, images_rgb: list[torch.Tensor], device: torch.device, which: str = 'both',
                 disable: tuple[str, ...] = ()) -> tuple[nn.Module | None, nn.Module | None]:
    """(torchvision model, our model) with equal weights, in eval mode, on ``device``."""
    torch.manual_seed(0)
    calib = _tv_detector(kind, nn.BatchNorm2d)
    calib.transform.resize = _no_resize
    g = torch.Generator().manual_seed(1)
    body = calib.backbone.body
    # BN statistics from the images, varied affine parameters
    vary_batchnorm([m for m in body.modules() if isinstance(m, nn.BatchNorm2d)], g)
    body.train()
    with torch.no_grad():
        body(calib.transform(images_rgb)[0].tensors)
        if kind == 'retinanet':  # sharper classifier / regressor: many candidates above score_thr
            head = calib.head
            head.classification_head.cls_logits.weight.mul_(60)
            head.classification_head.cls_logits.bias.normal_(-3.0, 1.0, generator=g)
            head.regression_head.bbox_reg.weight.mul_(20)
        else:
            predictor = calib.roi_heads.box_predictor
            predictor.cls_score.weight.mul_(30)
            predictor.bbox_pred.weight.mul_(10)
    state = calib.state_dict()
    del calib
    tv = ours = None
    if which in ('both', 'tv'):
        tv = _tv_detector(kind, FrozenBatchNorm2d)
        tv.load_state_dict(state)
        tv.transform.resize = _no_resize
        if kind == 'retinanet':
            tv.detections_per_img = 300
        tv.to(device).eval()
    if which in ('both', 'ours'):
        if kind == 'retinanet':
            cfg = conv.torchvision_retinanet_config(num_classes=91, max_per_img=300, frozen_bn=True)
            converted = conv.retinanet_from_torchvision(state)
        else:
            cfg = conv.torchvision_fasterrcnn_config(num_classes=91)
            converted = conv.fasterrcnn_from_torchvision(state)
        for name in disable:  # the backbone's switches (plain bools; False = off)
            cfg['backbone'][name] = False
        ours = MODELS.build(cfg)
        report = ours.load_state_dict(converted, strict=False)
        if report.missing_keys or report.unexpected_keys:
            raise RuntimeError(f'converted {kind} weights do not fit our model: {report}')
        ours.to(device).eval()
    return tv, ours


def build_mmdet_models(kind: str, bgr: list[torch.Tensor], device: torch.device, which: str = 'both',
                       switches: dict | None = None) -> tuple[nn.Module | None, nn.Module | None]:
    """(MMDetection's model, ours) with equal weights, in eval mode, on ``device`` (``--against mmdet``)."""
    rel, ours_cfg = MMDET_CONFIGS[kind]
    torch.manual_seed(0)
    theirs, _ = upstream_model('mmdet', rel)
    g = torch.Generator().manual_seed(1)
    bns = [m for m in theirs.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    vary_batchnorm(bns, g)  # BN statistics from the images (train mode by hand: norm_eval keeps them in eval)
    theirs.eval()
    with torch.no_grad():
        for m in bns:
            m.train()
        from mmdet.structures import DetDataSample
        data = theirs.data_preprocessor(dict(inputs=[b.cpu() for b in bgr], data_samples=[
            DetDataSample(metainfo=dict(img_shape=tuple(b.shape[-2:]), ori_shape=tuple(b.shape[-2:]),
                                        scale_factor=(1.0, 1.0))) for b in bgr]), False)
        theirs.backbone(data['inputs'])
        for m in bns:
            m.eval()
        # MMDetection's init already gives 100 detections per image above score_thr (scores 0.1-0.5, no ties);
        # a larger regressor (init std 0.001) makes the boxes move off the proposals
        theirs.roi_head.bbox_head.fc_reg.weight.mul_(10)
    state = theirs.state_dict()
    ours = None
    if which in ('both', 'ours'):
        ours, _ = our_model(ours_cfg, state, backbone=switches)
        ours.to(device).eval()
    if which not in ('both', 'tv'):
        theirs = None
    else:
        theirs.to(device).eval()
    return theirs, ours


# -- inputs and steps -------------------------------------------------------------------------------
def make_inputs(batch: int, size: tuple[int, int], device: torch.device, boxes_per_image: int = 8):
    """Same pixels twice: uint8 BGR 3 x H x W (ours) and float RGB in [0, 1] (torchvision); random gt boxes
    (xyxy pixels, at least 16 px wide and high) and labels in 1..90."""
    g = torch.Generator().manual_seed(2)
    h, w = size
    bgr, rgb, targets = [], [], []
    for _ in range(batch):
        # smooth random images (a coarse grid upsampled), so BN statistics are not those of white noise
        coarse = torch.rand(1, 3, max(h // 32, 1), max(w // 32, 1), generator=g)
        img = torch.nn.functional.interpolate(coarse, size=(h, w), mode='bilinear', align_corners=False)[0]
        img = (img * 255).round().to(torch.uint8)
        bgr.append(img.flip(0).contiguous().to(device))
        rgb.append((img.float() / 255).to(device))
        xy = torch.rand(boxes_per_image, 2, generator=g) * torch.tensor([w * 0.75, h * 0.75])
        wh = 16 + torch.rand(boxes_per_image, 2, generator=g) * torch.tensor([w * 0.25, h * 0.25])
        boxes = torch.cat([xy, xy + wh], dim=1)
        labels = torch.randint(1, 91, (boxes_per_image,), generator=g)
        targets.append(dict(boxes=boxes.to(device), labels=labels.to(device)))
    return bgr, rgb, targets


def _samples(bgr, targets=None, label_offset: int = 0):
    out = []
    for i, img in enumerate(bgr):
        h, w = img.shape[-2:]
        s = DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
        if targets is not None:
            s.gt_instances = InstanceData(bboxes=targets[i]['boxes'], labels=targets[i]['labels'] - label_offset)
        out.append(s)
    return out


def _mm_samples(bgr, targets=None):
    """MMDetection's DetDataSamples of the same metainfo (and boxes) as :func:`_samples`."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData as MMInstanceData
    out = []
    for i, img in enumerate(bgr):
        h, w = img.shape[-2:]
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
        if targets is not None:
            s.gt_instances = MMInstanceData(bboxes=targets[i]['boxes'], labels=targets[i]['labels'])
        out.append(s)
    return out


def _total_loss(losses: dict) -> torch.Tensor:
    """The sum of every ``loss*`` entry (lists, MMDetection's per-level RPN losses, summed first)."""
    return sum((sum(v) if isinstance(v, (list, tuple)) else v) for k, v in losses.items() if 'loss' in k)


class Runner:
    """The inference call and the training step of one model, on fixed inputs. ``name``: 'torchvision', 'mmdet'
    (MMDetection's model) or 'ours'; ``label_offset``: subtracted from the target labels for our model (None:
    torchvision's R-CNN convention, 1 for our Faster R-CNN)."""

    def __init__(self, name: str, model: nn.Module, bgr, rgb, targets, device: torch.device, amp: bool,
                 label_offset: int | None = None) -> None:
        self.name, self.model, self.device, self.amp = name, model, device, amp
        self.label_offset = label_offset
        self.bgr, self.rgb, self.targets = bgr, rgb, targets
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)
        self.scaler = torch.amp.GradScaler('cuda') if amp else None
        self.num_params = sum(p.numel() for p in params)
        self.last_loss = float('nan')
        self.last_dets = 0

    def _autocast(self):
        return torch.autocast('cuda', dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def infer(self) -> None:
        self.model.eval()
        with torch.no_grad(), self._autocast():
            if self.name == 'torchvision':
                dets = self.model(self.rgb)
                self.last_dets = sum(len(d['scores']) for d in dets)
            elif self.name == 'mmdet':
                out = self.model.test_step(dict(inputs=self.bgr, data_samples=_mm_samples(self.bgr)))
                self.last_dets = sum(len(s.pred_instances) for s in out)
                self.last_out = out
            else:
                out = self.model.val_step(dict(inputs=self.bgr, data_samples=_samples(self.bgr)))
                self.last_dets = sum(len(s.pred_instances) for s in out)
                self.last_out = out

    def train_step(self) -> None:
        self.model.train()
        with self._autocast():
            if self.name == 'torchvision':
                losses = self.model(self.rgb, [dict(t) for t in self.targets])
                loss = sum(losses.values())
            elif self.name == 'mmdet':
                data = self.model.data_preprocessor(
                    dict(inputs=self.bgr, data_samples=_mm_samples(self.bgr, self.targets)), True)
                loss = _total_loss(self.model(**data, mode='loss'))
            else:
                # torchvision's R-CNN label l (1..90, 0 = background) is our l - 1 (no background class)
                offset = self.label_offset
                if offset is None:
                    offset = 1 if type(self.model).__name__ == 'FasterRCNN' else 0
                data = self.model.data_preprocessor(
                    dict(inputs=self.bgr, data_samples=_samples(self.bgr, self.targets, offset)), training=True)
                loss = _total_loss(self.model(**data, mode='loss'))
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.last_loss = float(loss.detach())


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_alternating(fns: dict[str, Callable[[], None]], repeats: int, warmup: int,
                     device: torch.device) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and process CPU seconds per call of every function, ABBA-alternating, after ``warmup``
    untimed calls of each."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            fns[n]()
            _sync(device)
            times[n].append(time.perf_counter() - t0)
            cpu[n].append(time.process_time() - c0)
    return times, cpu


# -- memory -----------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field}')


def _cpu_peak_worker(args) -> None:
    """Subprocess body: build one model, reset the peak RSS, run ``--mem-iters`` calls, print the peak."""
    device = torch.device('cpu')
    bgr, rgb, targets = _inputs(args, device)
    which, mode = args.mem_worker.split(':')
    tv, ours = _build_pair(args, bgr, rgb, device, which=which)
    runner = Runner(args.against if which == 'tv' else 'ours', tv if which == 'tv' else ours,
                    bgr, rgb, targets, device, amp=False, label_offset=_label_offset(args))
    gc.collect()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # resets VmHWM to the current RSS
    base = _status_kb('VmRSS')
    for _ in range(args.mem_iters):
        runner.infer() if mode == 'infer' else runner.train_step()
    peak = _status_kb('VmHWM')
    print(json.dumps(dict(peak_mib=(peak - base) / 1024, base_mib=base / 1024)))


def cpu_peak_mib(args, which: str, mode: str) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), '--mem-worker', f'{which}:{mode}', '--model', args.model,
           '--size', *map(str, args.size), '--batch', str(args.batch), '--mem-iters', str(args.mem_iters)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if args.disable:
        cmd += ['--disable', ','.join(args.disable)]
    if args.enable:
        cmd += ['--enable', ','.join(args.enable)]
    cmd += ['--against', args.against]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])['peak_mib']


def cuda_peak_mib(fn: Callable[[], None], device: torch.device, iters: int) -> float:
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    for _ in range(iters):
        fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20


# -- main -------------------------------------------------------------------------------------------
def _compare_outputs(runners: dict) -> dict:
    """One inference of each model: their detection counts and the largest difference of matched boxes and
    scores (each detection of theirs against ours of the same label with the closest box), a check that both do
    the same work on the same weights."""
    (ref, theirs), (_, ours) = runners.items()
    theirs.infer()
    ours.infer()
    out = dict(detections={ref: theirs.last_dets, 'ours': ours.last_dets}, max_box_diff_px=0.0, max_score_diff=0.0)
    for a, b in zip(theirs.last_out, ours.last_out):
        pa, pb = a.pred_instances, b.pred_instances
        for i in range(len(pa)):
            same = (pb.labels == pa.labels[i]).nonzero().flatten()
            if len(same) == 0:
                out['max_box_diff_px'] = float('inf')
                continue
            d = (pb.bboxes[same] - pa.bboxes[i]).abs().amax(1)
            j = int(d.argmin())
            out['max_box_diff_px'] = max(out['max_box_diff_px'], float(d[j]))
            out['max_score_diff'] = max(out['max_score_diff'], float((pb.scores[same[j]] - pa.scores[i]).abs()))
    return out


def _inputs(args, device: torch.device):
    bgr, rgb, targets = make_inputs(args.batch, tuple(args.size), device)
    if args.against == 'mmdet':  # COCO's 80 classes, 0-based, for both models
        for t in targets:
            t['labels'] = (t['labels'] - 1) % 80
    return bgr, rgb, targets


def _label_offset(args) -> int | None:
    return 0 if args.against == 'mmdet' else None


def _build_pair(args, bgr, rgb, device: torch.device, which: str = 'both'):
    """(reference model, ours): torchvision's or MMDetection's, per ``--against``."""
    if args.against == 'mmdet':
        switches = {name: False for name in args.disable}
        switches.update({name: True for name in args.enable})
        return build_mmdet_models(args.model, bgr, device, which=which, switches=switches)
    return build_models(args.model, rgb, device, which=which, disable=args.disable)


def _switches(p: argparse.ArgumentParser, value: str, flag: str) -> tuple[str, ...]:
    names = tuple(d.strip() for d in value.split(',') if d.strip())
    if set(names) - {'fold_bn', 'channels_last'}:
        p.error(f'{flag}: unknown {sorted(set(names) - {"fold_bn", "channels_last"})}; '
                'choose from fold_bn, channels_last')
    return names


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', choices=MODEL_KINDS, default='fasterrcnn' if hasattr(conv, 'fasterrcnn_from_torchvision')
                   else 'retinanet')
    p.add_argument('--size', type=int, nargs=2, default=[512, 640], metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=None, help='images per call (default 2; 1 with --against mmdet)')
    p.add_argument('--repeats', type=int, default=5, help='timed calls of each model and mode')
    p.add_argument('--warmup', type=int, default=None, help='untimed calls of each model first (the first '
                   'training steps of a process are slow on CPU; default 3, 2 with --against mmdet)')
    p.add_argument('--mem-iters', type=int, default=2, help='calls whose peak memory is measured')
    p.add_argument('--modes', default=None, help='comma-separated subset of infer,train,memory (default all '
                   'three; infer,train with --against mmdet)')
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: torch default)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true', help='fp16 autocast for both (CUDA only)')
    p.add_argument('--json', default=None, help='write the results to this file')
    p.add_argument('--disable', default='', help='comma-separated speed-ups of our ResNet to switch off: '
                   'fold_bn, channels_last')
    p.add_argument('--enable', default='', help='comma-separated speed-ups of our ResNet to switch on (for a '
                   'config that leaves them off, as --against mmdet\'s BN config does): fold_bn, channels_last')
    p.add_argument('--against', choices=AGAINST, default='torchvision',
                   help="the reference model: torchvision's, or MMDetection's own (needs mmdet and mmcv installed; "
                   'Faster R-CNN only)')
    p.add_argument('--mem-worker', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    upstream = args.against == 'mmdet'  # smaller defaults: MMDetection's model is slower to build and run here
    args.batch = args.batch or (1 if upstream else 2)
    args.warmup = args.warmup if args.warmup is not None else (2 if upstream else 3)
    args.modes = args.modes or ('infer,train' if upstream else 'infer,train,memory')
    args.disable = _switches(p, args.disable, '--disable')
    args.enable = _switches(p, args.enable, '--enable')
    if set(args.disable) & set(args.enable):
        p.error(f'--enable and --disable both name {sorted(set(args.disable) & set(args.enable))}')
    if args.against == 'mmdet':
        if args.model not in MMDET_CONFIGS:
            p.error(f'--against mmdet: --model {args.model} is not wired up; choose from {sorted(MMDET_CONFIGS)}')
        if args.amp:
            p.error('--against mmdet: --amp is not supported (MMDetection runs fp16 through its own wrapper)')
        require_upstream('mmdet')
    elif args.enable:
        p.error('--enable is for --against mmdet (the torchvision comparison builds FrozenBN models, '
                'whose speed-ups are on already)')
    if args.mem_worker:
        _cpu_peak_worker(args)
        return {}
    device = torch.device(args.device)
    if args.amp and device.type != 'cuda':
        p.error('--amp needs --device cuda')
    modes = [m.strip() for m in args.modes.split(',') if m.strip()]
    bad = sorted(set(modes) - {'infer', 'train', 'memory'})
    if bad:
        p.error(f'--modes: unknown {bad}; choose from infer, train, memory')

    ref = args.against  # the reference's name in the tables: 'torchvision' or 'mmdet'
    bgr, rgb, targets = _inputs(args, device)
    tv, ours = _build_pair(args, bgr, rgb, device)
    runners = {ref: Runner(ref, tv, bgr, rgb, targets, device, args.amp),
               'ours': Runner('ours', ours, bgr, rgb, targets, device, args.amp, label_offset=_label_offset(args))}
    # Faster R-CNN: torchvision also has box deltas for the background class (4 x 1025 weights) that ours drops
    allowed = 0 if args.model == 'retinanet' or ref == 'mmdet' else 4 * 1025
    if runners[ref].num_params - runners['ours'].num_params != allowed:
        raise RuntimeError(f"trainable parameters differ: {ref} {runners[ref].num_params}, "
                           f"ours {runners['ours'].num_params}")
    results: dict = dict(model=args.model, against=ref, size=args.size, batch=args.batch, device=str(device),
                         amp=args.amp, threads=torch.get_num_threads(), repeats=args.repeats, torch=torch.__version__,
                         torchvision=torchvision.__version__, load=os.getloadavg()[0], disabled=list(args.disable),
                         enabled=list(args.enable))
    if ref == 'mmdet':
        import mmcv
        import mmdet
        results.update(mmdet=mmdet.__version__, mmcv=mmcv.__version__)
        results['agreement'] = _compare_outputs(runners)
    rows = []
    for mode in ('infer', 'train'):
        if mode not in modes:
            continue
        fns = {n: (r.infer if mode == 'infer' else r.train_step) for n, r in runners.items()}
        times, cpu = time_alternating(fns, args.repeats, args.warmup, device)
        med = {n: statistics.median(t) for n, t in times.items()}
        cmed = {n: statistics.median(t) for n, t in cpu.items()}
        results[mode] = dict(seconds=times, median=med, ratio=med['ours'] / med[ref],
                             cpu_seconds=cpu, cpu_median=cmed, cpu_ratio=cmed['ours'] / cmed[ref])
        rows.append((f'{mode} (s/call)', med[ref], med['ours'], med['ours'] / med[ref],
                     times))
        if device.type == 'cpu':
            rows.append((f'{mode} (CPU s/call)', cmed[ref], cmed['ours'],
                         cmed['ours'] / cmed[ref], cpu))
    if 'infer' in modes:
        results['detections'] = {n: r.last_dets for n, r in runners.items()}
    if 'train' in modes:
        results['last_loss'] = {n: r.last_loss for n, r in runners.items()}
    if 'memory' in modes:
        mem = {}
        for mode in ('infer', 'train'):
            if device.type == 'cuda':
                fn = {n: (r.infer if mode == 'infer' else r.train_step) for n, r in runners.items()}
                mem[mode] = {n: cuda_peak_mib(fn[n], device, args.mem_iters) for n in (ref, 'ours')}
            else:
                mem[mode] = {n: cpu_peak_mib(args, w, mode) for n, w in ((ref, 'tv'), ('ours', 'ours'))}
            mem[mode]['ratio'] = mem[mode]['ours'] / mem[mode][ref]
            rows.append((f'{mode} peak (MiB)', mem[mode][ref], mem[mode]['ours'], mem[mode]['ratio'], None))
        results['memory'] = mem

    print(f"{args.model} R50-FPN against {ref}, {args.batch} x 3 x {args.size[0]} x {args.size[1]}, device {device}"
          f"{' (AMP fp16)' if args.amp else ''}, torch threads {torch.get_num_threads()}, "
          f"{args.repeats} alternating repeats after {args.warmup} warmup, load average {os.getloadavg()[0]:.2f}"
          f"{', ours without ' + '+'.join(args.disable) if args.disable else ''}"
          f"{', ours with ' + '+'.join(args.enable) if args.enable else ''}")
    short = 'tv' if ref == 'torchvision' else ref
    print(f"{'':22s} {ref:>12s} {'ours':>12s} {'ours/' + short:>11s}")
    for name, a, b, ratio, times in rows:
        print(f'{name:22s} {a:12.3f} {b:12.3f} {ratio:11.3f}')
        if times:
            for n in (ref, 'ours'):
                print(f"{'':4s}{n:12s} runs: {', '.join(f'{t:.3f}' for t in times[n])}")
    if 'detections' in results:
        print(f"detections (all images): {ref} {results['detections'][ref]}, "
              f"ours {results['detections']['ours']}")
    if 'agreement' in results:
        a = results['agreement']
        print(f"outputs before timing, same weights and images: detections {a['detections']}, "
              f"largest box difference {a['max_box_diff_px']:.2e} px, "
              f"largest score difference {a['max_score_diff']:.2e}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
