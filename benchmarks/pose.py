"""Top-down pose speed: persons/s of SimpleBaseline-R50 and the SimCC (RTMPose-style) model at 256x192, batch 1 and
batch 32, three ways in one run, and the framework's overhead as ratios.

    OMP_NUM_THREADS=1 python benchmarks/pose.py [--device cpu|cuda] [--repeats 3] [--warmup 1]
        [--batch-sizes 1 32] [--flip-test] [--models res50 simcc] [--json FILE]

Rows, for each model and batch size B (B person boxes in one 480x640 image, random weights: speed does not
depend on them):

* ``model``: the bare network, ``torch.no_grad()`` ``head(backbone(x))`` on an already normalised float
  (B, 3, 256, 192) tensor on the device (with ``--flip-test``: on the 2B crops, the same work as the flip test).
* ``framework``: ``model.test_step(packed)`` from what ``PackPoseInputs`` gives (B uint8 crops + DataSamples):
  data preprocessor (stack, BGR->RGB, normalise, to device), network, flip test when on, decoding with the
  codec's ``batch_decode``, keypoints mapped back to image pixels, numpy ``pred_instances``.
* ``pipeline``: ``inference_topdown(model, img, boxes)``: the config's test pipeline per box (bbox centre /
  scale, ``TopdownAffine`` warp to 192x256, pack), collate, then the framework path.

Overheads printed: ``framework / model`` and ``pipeline / model`` time ratios (issue bar: framework <= 1.10 at
batch 32). Median wall time per call over ``--repeats`` calls after ``--warmup``; the three paths alternate within
each repeat so a slow spell of a shared machine hits all three. On CPU the process CPU time per call is given
too (less noisy than the wall clock on a loaded machine).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIGS = {
    'res50': REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
    # H4b's RTMPose-style SimCC recipe; the first existing file of these is used
    'simcc': [REPO / 'configs/body_2d_keypoint/rtmpose/coco/rtmpose-m_8xb256-420e_coco-256x192.py',
              REPO / 'configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py',
              REPO / 'configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py'],
}


def _config_path(name: str) -> Path | None:
    cand = CONFIGS[name]
    if isinstance(cand, Path):
        return cand if cand.is_file() else None
    found = [p for p in cand if p.is_file()]
    if not found:  # any SimCC recipe at 256x192
        found = sorted((REPO / 'configs/body_2d_keypoint/rtmpose/coco').glob('*coco-256x192.py'))
    return found[0] if found else None


def person_boxes(n: int, img_hw=(480, 640), seed: int = 0) -> np.ndarray:
    """``n`` xyxy person-like boxes (taller than wide) inside the image."""
    rng = np.random.default_rng(seed)
    h, w = img_hw
    bw = rng.uniform(60, 200, n)
    bh = bw * rng.uniform(1.5, 2.5, n)
    x1 = rng.uniform(0, w - bw)
    y1 = rng.uniform(0, np.maximum(h - bh, 1))
    return np.stack([x1, y1, x1 + bw, np.minimum(y1 + bh, h - 1)], 1).astype(np.float32)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def bench_model(path: Path, device: str, batch_sizes, repeats: int, warmup: int, flip: bool) -> dict:
    import torch

    from visioncraft.apis.pose import _topdown_pipeline, inference_topdown, init_model
    from visioncraft.data.collate import pseudo_collate
    torch.manual_seed(0)
    model = init_model(str(path), None, device=device, cfg_options={'model.test_cfg.flip_test': flip})
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    pipeline = _topdown_pipeline(model)
    meta = dict(model.dataset_meta or {})
    out = {}
    for bs in batch_sizes:
        boxes = person_boxes(bs)
        packed = []
        for i, box in enumerate(boxes):
            info = dict(img=img, img_path=None, img_id=0, id=i, category_id=1, bbox=box[None].copy(),
                        bbox_score=np.ones(1, np.float32), flip_indices=meta.get('flip_indices'),
                        dataset_name=meta.get('dataset_name'))
            packed.append(pipeline(info))
        batch = pseudo_collate(packed)
        with torch.no_grad():
            x = model.data_preprocessor(pseudo_collate(packed), training=False)['inputs']
            if flip:
                x = torch.cat([x, x.flip(-1)])

        def run_model():
            with torch.no_grad():
                model.head(model.backbone(x))
            _sync(device)

        def run_framework():
            model.test_step(batch)
            _sync(device)

        def run_pipeline():
            inference_topdown(model, img, boxes, batch_size=bs)
            _sync(device)

        paths = dict(model=run_model, framework=run_framework, pipeline=run_pipeline)
        for _ in range(warmup):
            for fn in paths.values():
                fn()
        wall = {k: [] for k in paths}
        cpu = {k: [] for k in paths}
        for _ in range(repeats):
            for k, fn in paths.items():
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
        med = {k: statistics.median(v) for k, v in wall.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        out[bs] = dict(
            persons_per_s={k: bs / v for k, v in med.items()},
            ms_per_call={k: 1000 * v for k, v in med.items()},
            cpu_ms_per_call={k: 1000 * v for k, v in med_cpu.items()},
            overhead=dict(framework=med['framework'] / med['model'], pipeline=med['pipeline'] / med['model']),
            overhead_cpu=dict(framework=med_cpu['framework'] / med_cpu['model'],
                              pipeline=med_cpu['pipeline'] / med_cpu['model']))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--repeats', type=int, default=3, help='timed calls per path (median reported)')
    p.add_argument('--warmup', type=int, default=1, help='untimed calls per path first')
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    p.add_argument('--flip-test', action='store_true', help='flip test on (the model row then runs 2B crops)')
    p.add_argument('--models', nargs='+', default=['res50', 'simcc'], choices=sorted(CONFIGS))
    p.add_argument('--json', help='write the figures to this file')
    args = p.parse_args(argv)
    import torch
    report: dict = dict(device=args.device, flip_test=args.flip_test, repeats=args.repeats,
                        torch_threads=torch.get_num_threads(), omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
                        models={})
    for name in args.models:
        path = _config_path(name)
        if path is None:
            print(f'{name}: no config found ({CONFIGS[name]}); skipped')
            report['models'][name] = None
            continue
        report['models'][name] = dict(config=str(path.relative_to(REPO)),
                                      results=bench_model(path, args.device, args.batch_sizes, args.repeats,
                                                          args.warmup, args.flip_test))
    print(f"device {args.device}, flip test {'on' if args.flip_test else 'off'}, torch threads "
          f"{report['torch_threads']}, OMP_NUM_THREADS={report['omp_num_threads']}, median of {args.repeats}")
    print('| model | batch | model persons/s | framework persons/s | pipeline persons/s | framework / model | '
          'pipeline / model | (CPU time) framework / model | pipeline / model |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, entry in report['models'].items():
        if entry is None:
            continue
        for bs, r in entry['results'].items():
            pps, oh, ohc = r['persons_per_s'], r['overhead'], r['overhead_cpu']
            print(f"| {Path(entry['config']).stem} | {bs} | {pps['model']:.1f} | {pps['framework']:.1f} | "
                  f"{pps['pipeline']:.1f} | {oh['framework']:.3f} | {oh['pipeline']:.3f} | "
                  f"{ohc['framework']:.3f} | {ohc['pipeline']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == '__main__':
    main()
