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

from .common import ArgumentParser

__all__ = ['build_parser', 'main']


def build_parser(prog: str = 'visioncraft pose') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Detect persons and estimate their 2D poses (top-down).')
    p.add_argument('inputs', help="an image, a folder of images, a video file or 'webcam'")
    p.add_argument('--pose2d', default='human', help="pose config file, or the alias 'human' (COCO-17; needs "
                                                     '--pose2d-weights)')
    p.add_argument('--pose2d-weights', default=None, help='pose checkpoint')
    p.add_argument('--det-model', default=None, help='person detector config (default: the whole image is the box)')
    p.add_argument('--det-weights', default=None, help='person detector checkpoint')
    p.add_argument('--det-cat-ids', type=int, nargs='+', default=[0], help='detector labels that are persons')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    p.add_argument('--out-dir', default='pose_results', help='where predictions/ and visualizations/ go')
    p.add_argument('--show', action='store_true', help='show the drawings in a window (q / Esc quits)')
    p.add_argument('--bbox-thr', type=float, default=0.3, help='person boxes scoring below this are dropped')
    p.add_argument('--nms-thr', type=float, default=0.3, help='IoU threshold of the person box NMS')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='keypoints scoring below this are not drawn')
    p.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    p.add_argument('--draw-heatmap', action='store_true', help='draw the predicted heatmaps under the image')
    p.add_argument('--show-kpt-idx', action='store_true', help='write each keypoint index next to it')
    p.add_argument('--radius', type=int, default=3, help='keypoint radius in pixels')
    p.add_argument('--thickness', type=int, default=1, help='link thickness in pixels')
    p.add_argument('--batch-size', type=int, default=1, help='images (frames) per result batch')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def main(argv: list[str] | None = None, prog: str = 'visioncraft pose'):
    """Returns ``{input name: [persons]}`` for images (``{'frames': [[persons], ...]}`` for a video / webcam)."""
    args = build_parser(prog).parse_args(argv)
    from ..apis.pose_inference import PoseInferencer
    if args.batch_size < 1:
        raise SystemExit(f'error: --batch-size must be >= 1, got {args.batch_size}')
    if args.inputs != 'webcam' and not Path(args.inputs).exists():
        raise FileNotFoundError(f"{args.inputs}: no such image, folder or video (or pass 'webcam')")
    try:
        inferencer = PoseInferencer(args.pose2d, args.pose2d_weights, det_model=args.det_model,
                                    det_weights=args.det_weights, det_cat_ids=args.det_cat_ids, device=args.device,
                                    show_progress=not args.no_progress,
                                    visualizer=dict(radius=args.radius, line_width=args.thickness))
    except ValueError as exc:
        raise SystemExit(f'error: {exc}') from None
    kind = inferencer.input_kind(args.inputs)
    names = [n for _, n in inferencer.image_items(args.inputs)] if kind in ('image', 'folder') else []
    t0 = time.perf_counter()
    preds = [p for batch in inferencer(args.inputs, bbox_thr=args.bbox_thr, nms_thr=args.nms_thr,
                                       kpt_thr=args.kpt_thr, out_dir=args.out_dir, show=args.show,
                                       draw_bbox=args.draw_bbox, draw_heatmap=args.draw_heatmap,
                                       show_kpt_idx=args.show_kpt_idx, batch_size=args.batch_size)
             for p in batch['predictions']]
    seconds = time.perf_counter() - t0
    out = {'frames': preds} if kind in ('video', 'webcam') else dict(zip(names, preds))
    print(f'{len(preds)} {"frames" if kind in ("video", "webcam") else "images"}, '
          f'{sum(len(p) for p in preds)} persons in {seconds:.2f} s; results in {args.out_dir}')
    return out


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
