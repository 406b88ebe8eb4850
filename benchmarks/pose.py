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

``--against mmpose``: SimpleBaseline-R50 (``td-hm_res50_8xb64-210e_coco-256x192``) next to MMPose's own model,
built from the config bundled in the installed mmpose (pretrained init stripped, its ``init_weights()`` run, seeded),
whose state dict loads into ours (our config of the same name, through our checkpoint loader, which renames
upstream keys; every key must fit). Both get the same B uint8 crops (our test pipeline's, from B boxes in one
480x640 image) and the same metainfo (``flip_indices``, crop centre / scale), both in eval mode with the same
``test_cfg`` (``flip_test`` from ``--flip-test``). Timed, alternating in ABBA order: each side's bare network on
its own preprocessed tensor and each side's ``test_step`` (preprocess, network, flip test when on, decode,
keypoints back to image pixels); printed ours / MMPose. Needs mmpose (and mmcv) importable: run with the python
of a venv that has them and VisionCraft installed ``--no-deps`` (docs/benchmarks.md).

    python benchmarks/pose.py --against mmpose [--batch-sizes 32] [--flip-test] [--threads N]
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
sys.path.insert(0, str(REPO / 'benchmarks'))  # _upstream (--against)
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


def time_paths(paths: dict, repeats: int, warmup: int, alternate: bool = False) -> tuple[dict, dict]:
    """Wall and process-CPU seconds per call of every path: ``warmup`` untimed calls of each, then ``repeats``
    rounds calling each once (in reverse order every other round when ``alternate``: ABBA)."""
    names = list(paths)
    for _ in range(warmup):
        for fn in paths.values():
            fn()
    wall = {k: [] for k in names}
    cpu = {k: [] for k in names}
    for r in range(repeats):
        for k in (names[::-1] if alternate and r % 2 else names):
            c0, t0 = time.process_time(), time.perf_counter()
            paths[k]()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return wall, cpu


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
        wall, cpu = time_paths(paths, repeats, warmup)
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


MMPOSE_CONFIG = 'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'


def bench_against_mmpose(device: str, batch_sizes, repeats: int, warmup: int, flip: bool) -> dict:
    """SimpleBaseline-R50 inference, ours against MMPose's model with the same weights and crops (--against)."""
    import torch

    from _upstream import load_upstream_state, upstream_model
    from visioncraft.apis.pose import _topdown_pipeline, init_model
    from visioncraft.data.collate import pseudo_collate
    torch.manual_seed(0)
    theirs, _ = upstream_model('mmpose', MMPOSE_CONFIG, {'model.test_cfg.flip_test': flip})
    from mmengine.structures import InstanceData as MMInstanceData
    from mmpose.structures import PoseDataSample
    theirs.to(device).eval()
    ours = init_model(str(CONFIGS['res50']), None, device=device, cfg_options={'model.test_cfg.flip_test': flip})
    ours.to(device).eval()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    pipeline = _topdown_pipeline(ours)
    meta = dict(ours.dataset_meta or {})
    out: dict = {}
    for bs in batch_sizes:
        boxes = person_boxes(bs)
        packed = [pipeline(dict(img=img, img_path=None, img_id=0, id=i, category_id=1, bbox=box[None].copy(),
                                bbox_score=np.ones(1, np.float32), flip_indices=meta.get('flip_indices'),
                                dataset_name=meta.get('dataset_name'))) for i, box in enumerate(boxes)]
        batch = pseudo_collate(packed)

        def mm_batch():  # MMPose's samples: our crops' metainfo, the person box (copied into its predictions)
            samples = []
            for s in batch['data_samples']:
                ms = PoseDataSample(metainfo=dict(s.metainfo))
                ms.gt_instances = MMInstanceData(bboxes=np.asarray(s.gt_instances.bboxes, np.float32),
                                                 bbox_scores=np.ones(1, np.float32))
                samples.append(ms)
            return dict(inputs=list(batch['inputs']), data_samples=samples)

        with torch.no_grad():
            if bs == batch_sizes[0]:  # BatchNorm statistics from the crops (as a trained model's normalise), then
                # the state dict into ours: heatmaps of order 1 rather than MMPose's initial ~1e-8
                _calibrate_bn(theirs, theirs.data_preprocessor(mm_batch(), False)['inputs'])
                load_upstream_state(ours, {k: v.cpu() for k, v in theirs.state_dict().items()},
                                    CONFIGS['res50'].name)
            x_ours = ours.data_preprocessor(pseudo_collate(packed), training=False)['inputs']
            x_theirs = theirs.data_preprocessor(mm_batch(), False)['inputs']
            if flip:
                x_ours, x_theirs = torch.cat([x_ours, x_ours.flip(-1)]), torch.cat([x_theirs, x_theirs.flip(-1)])
            h_ours, h_theirs = ours.head(ours.backbone(x_ours)), theirs.head(theirs.backbone(x_theirs))
            k_ours = np.stack([np.asarray(p.pred_instances.keypoints) for p in ours.test_step(batch)])
            k_theirs = np.stack([np.asarray(p.pred_instances.keypoints) for p in theirs.test_step(mm_batch())])
        agreement = dict(input_max_diff=float((x_ours - x_theirs).abs().max()),
                         heatmap_max_diff=float((h_ours - h_theirs).abs().max()),
                         heatmap_scale=float(h_theirs.abs().max()),
                         keypoint_max_diff_px=float(np.abs(k_ours - k_theirs).max()))

        def bare(model, x):
            def run():
                with torch.no_grad():
                    model.head(model.backbone(x))
                _sync(device)
            return run

        def framework_ours():
            ours.test_step(batch)
            _sync(device)

        def framework_theirs():
            theirs.test_step(mm_batch())
            _sync(device)

        paths = {'mmpose model': bare(theirs, x_theirs), 'ours model': bare(ours, x_ours),
                 'mmpose test_step': framework_theirs, 'ours test_step': framework_ours}
        wall, cpu = time_paths(paths, repeats, warmup, alternate=True)
        med = {k: statistics.median(v) for k, v in wall.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        out[bs] = dict(
            seconds=wall, cpu_seconds=cpu, ms_per_call={k: 1000 * v for k, v in med.items()},
            cpu_ms_per_call={k: 1000 * v for k, v in med_cpu.items()},
            ratio={p: med[f'ours {p}'] / med[f'mmpose {p}'] for p in ('model', 'test_step')},
            cpu_ratio={p: med_cpu[f'ours {p}'] / med_cpu[f'mmpose {p}'] for p in ('model', 'test_step')},
            agreement=agreement)
    return out


def _calibrate_bn(model, x) -> None:
    """Every BatchNorm's running statistics from one forward of ``x`` (cumulative average), affine parameters
    varied (seeded); the model is left in eval mode."""
    import torch
    from _upstream import vary_batchnorm
    g = torch.Generator().manual_seed(1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    vary_batchnorm(bns, g)
    for m in bns:
        m.train()
    with torch.no_grad():
        model.head(model.backbone(x))
    model.eval()


def _print_against(report: dict) -> None:
    print(f"SimpleBaseline-R50 (td-hm_res50, 256x192) against MMPose {report['mmpose']}, device {report['device']}, "
          f"flip test {'on' if report['flip_test'] else 'off'}, torch threads {report['torch_threads']}, "
          f"median of {report['repeats']} ABBA-alternating calls, load average {report['load']:.2f}")
    print('| batch | path | MMPose ms/call | ours ms/call | ours / MMPose | (CPU time) ours / MMPose |')
    print('|---|---|---|---|---|---|')
    for bs, r in report['against'].items():
        for p in ('model', 'test_step'):
            print(f"| {bs} | {p} | {r['ms_per_call'][f'mmpose {p}']:.1f} | {r['ms_per_call'][f'ours {p}']:.1f} | "
                  f"{r['ratio'][p]:.3f} | {r['cpu_ratio'][p]:.3f} |")
    for bs, r in report['against'].items():
        a = r['agreement']
        print(f"batch {bs}, same weights and crops: inputs differ by {a['input_max_diff']:.1e}, heatmaps by "
              f"{a['heatmap_max_diff']:.1e} (max |heatmap| {a['heatmap_scale']:.1e}), keypoints by "
              f"{a['keypoint_max_diff_px']:.1e} px")
        for k, v in r['seconds'].items():
            print(f"    {k:17s} runs (s): {', '.join(f'{t:.3f}' for t in v)}")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--repeats', type=int, default=3, help='timed calls per path (median reported)')
    p.add_argument('--warmup', type=int, default=1, help='untimed calls per path first')
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    p.add_argument('--flip-test', action='store_true', help='flip test on (the model row then runs 2B crops)')
    p.add_argument('--models', nargs='+', default=['res50', 'simcc'], choices=sorted(CONFIGS))
    p.add_argument('--json', help='write the figures to this file')
    p.add_argument('--against', choices=['mmpose'], default=None,
                   help="SimpleBaseline-R50 next to MMPose's own model (needs mmpose and mmcv installed)")
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: torch default)')
    args = p.parse_args(argv)
    if args.against:
        from _upstream import require_upstream
        require_upstream(args.against)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.against:
        import mmcv
        import mmpose
        report = dict(device=args.device, flip_test=args.flip_test, repeats=args.repeats,
                      torch_threads=torch.get_num_threads(), omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
                      load=os.getloadavg()[0], torch=torch.__version__, mmpose=mmpose.__version__,
                      mmcv=mmcv.__version__, config=str(CONFIGS['res50'].relative_to(REPO)),
                      against=bench_against_mmpose(args.device, args.batch_sizes, args.repeats, args.warmup,
                                                   args.flip_test))
        _print_against(report)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        return report
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
