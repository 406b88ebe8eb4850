"""``visioncraft pose INPUT [--pose2d human|CONFIG] [--pose2d-weights CKPT] [--det-model CONFIG --det-weights CKPT]``.

Top-down pose estimation with :class:`visioncraft.apis.PoseInferencer` (MMPose's ``demo/inferencer_demo.py``):
persons found by the detector (the whole image without one), then their keypoints. ``INPUT`` is an image, a folder
of images, a video file or ``webcam``. Writes ``<out-dir>/predictions/<name>.json`` and
``<out-dir>/visualizations/<name>`` (default ``--out-dir pose_results``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..apis.inputs import input_kind
from ..apis.pose_inferencer import PoseInferencer
from ..apis.writers import unique_names
from .parsers import pose_parser as build_parser
from .parsers import resolve_device

__all__ = ['build_parser', 'main', 'run']


def _counted(n: int, noun: str) -> str:
    return f'{n} {noun}' if n == 1 else f'{n} {noun}s'


def main(argv: list[str] | None = None, prog: str = 'visioncraft pose'):
    """Returns ``{input name: [persons]}`` for images (``{'frames': [[persons], ...]}`` for a video / webcam)."""
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace):
    """Pose estimation as the parsed ``args`` (of :func:`build_parser`) say; returns what :func:`main` does."""
    if args.batch_size < 1:
        raise SystemExit(f'error: --batch-size must be >= 1, got {args.batch_size}')
    if input_kind(args.inputs) in ('image', 'video') and '://' not in args.inputs and not Path(args.inputs).exists():
        raise FileNotFoundError(f"{args.inputs}: no such image, folder or video (or pass 'webcam')")
    device = resolve_device(args.device)  # 'auto': CUDA when there is one
    try:
        inferencer = PoseInferencer(args.pose2d, args.pose2d_weights, det_model=args.det_model,
                                    det_weights=args.det_weights, det_cat_ids=args.det_cat_ids, device=device,
                                    show_progress=not args.no_progress,
                                    visualizer=dict(radius=args.radius, line_width=args.thickness))
    except ValueError as exc:
        raise SystemExit(f'error: {exc}') from None
    kind = inferencer.input_kind(args.inputs)
    names = [] if kind in ('video', 'webcam') else unique_names([n for _, n in inferencer.image_items(args.inputs)])
    t0 = time.perf_counter()
    preds = [p for batch in inferencer(args.inputs, bbox_thr=args.bbox_thr, nms_thr=args.nms_thr,
                                       kpt_thr=args.kpt_thr, out_dir=args.out_dir, show=args.show,
                                       draw_bbox=args.draw_bbox, draw_heatmap=args.draw_heatmap,
                                       show_kpt_idx=args.show_kpt_idx, batch_size=args.batch_size)
             for p in batch['predictions']]
    seconds = time.perf_counter() - t0
    stream = kind in ('video', 'webcam')
    out = {'frames': preds} if stream else dict(zip(names, preds))
    print(f'{_counted(len(preds), "frame" if stream else "image")}, {_counted(sum(len(p) for p in preds), "person")} '
          f'in {seconds:.2f} s; results in {args.out_dir}')
    return out


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
