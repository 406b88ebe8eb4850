"""Detect persons, then estimate their poses (top-down), on an image, a folder, a video or a webcam.

    python demo/topdown_demo_with_detector.py DET_CONFIG DET_CHECKPOINT POSE_CONFIG POSE_CHECKPOINT \\
        --input IMG|DIR|VIDEO|webcam [--output-root DIR] [--save-predictions] [--show] \\
        [--device auto|cpu|cuda:0] [--det-cat-id 0] [--bbox-thr 0.3] [--nms-thr 0.3] [--kpt-thr 0.3] \\
        [--draw-heatmap] [--show-kpt-idx] [--skeleton-style mmpose] [--radius 3] [--thickness 1] [--alpha 0.8] \\
        [--draw-bbox]

MMPose's flags and output layout: the drawing goes to ``OUTPUT_ROOT/<input file name>`` (a video's drawn frames
to ``OUTPUT_ROOT/<video name>``, the webcam's to ``OUTPUT_ROOT/webcam.mp4``), and with ``--save-predictions``
the predictions to ``OUTPUT_ROOT/results_<input stem>.json`` as ``{"meta_info": dataset meta, "instance_info":
[per person {"keypoints", "keypoint_scores", "bbox", "bbox_score"}]}`` (for a video ``instance_info`` is
``[{"frame_id", "instances"}, ...]``). A folder writes one drawing and one results file per image.
Runs :class:`visioncraft.apis.PoseInferencer`; boxes of ``--det-cat-id`` scoring ``>= --bbox-thr`` are kept,
then NMS at ``--nms-thr``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import ArgumentParser, add_device_arg, resolve_device


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description='Person detector + top-down pose estimator on images, videos or '
                                        'a webcam.')
    parser.add_argument('det_config', help='person detector config file')
    parser.add_argument('det_checkpoint', help='person detector checkpoint file or URL')
    parser.add_argument('pose_config', help='pose estimator config file')
    parser.add_argument('pose_checkpoint', help='pose estimator checkpoint file or URL')
    parser.add_argument('--input', required=True, help="an image, a folder of images, a video file or 'webcam'")
    parser.add_argument('--output-root', default='', help='where the drawings (and predictions) go')
    parser.add_argument('--save-predictions', action='store_true', help='write results_<name>.json')
    parser.add_argument('--show', action='store_true', help='show the drawings in a window (q / Esc quits)')
    add_device_arg(parser)
    parser.add_argument('--det-cat-id', type=int, default=0, help='the detector label of persons')
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='person boxes scoring below this are dropped')
    parser.add_argument('--nms-thr', type=float, default=0.3, help='IoU threshold of the person box NMS')
    parser.add_argument('--kpt-thr', type=float, default=0.3, help='keypoints scoring below this are not drawn')
    parser.add_argument('--draw-heatmap', action='store_true', help='draw the predicted heatmaps under the image')
    parser.add_argument('--show-kpt-idx', action='store_true', help='write each keypoint index next to it')
    parser.add_argument('--skeleton-style', default='mmpose', choices=['mmpose'], help='skeleton style')
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius in pixels')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness in pixels')
    parser.add_argument('--alpha', type=float, default=0.8, help='opacity of keypoints and links')
    parser.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    parser.add_argument('--show-interval', type=float, default=0, help='seconds each shown image stays')
    return parser.parse_args(argv)


def _write_results(path: Path, meta: dict, instance_info) -> None:
    from visioncraft.apis.writers import write_json
    write_json(path, dict(meta_info=meta, instance_info=instance_info))
    print(f'predictions saved at {path}')


def main(argv=None) -> int:
    args = parse_args(argv)
    from visioncraft.apis import PoseInferencer
    from visioncraft.apis.writers import unique_names
    if args.input != 'webcam' and not Path(args.input).exists():
        raise FileNotFoundError(f"--input {args.input}: no such image, folder or video (or pass 'webcam')")
    args.device = resolve_device(args.device)  # 'auto': CUDA when there is one
    if not (args.output_root or args.show):
        print('nothing is written or shown: pass --output-root DIR and / or --show', file=sys.stderr)
    inferencer = PoseInferencer(args.pose_config, args.pose_checkpoint, det_model=args.det_config,
                                det_weights=args.det_checkpoint, det_cat_ids=args.det_cat_id, device=args.device,
                                visualizer=dict(radius=args.radius, line_width=args.thickness, alpha=args.alpha))
    root = Path(args.output_root) if args.output_root else None
    kind = inferencer.input_kind(args.input)
    names = [] if kind in ('video', 'webcam') else unique_names([n for _, n in inferencer.image_items(args.input)])
    results = inferencer(args.input, bbox_thr=args.bbox_thr, nms_thr=args.nms_thr, kpt_thr=args.kpt_thr,
                         vis_out_dir=root, show=args.show, wait_time=args.show_interval, draw_bbox=args.draw_bbox,
                         draw_heatmap=args.draw_heatmap, show_kpt_idx=args.show_kpt_idx,
                         skeleton_style=args.skeleton_style)
    per_item = [persons for batch in results for persons in batch['predictions']]
    if args.save_predictions and root is not None:
        if kind in ('video', 'webcam'):
            stem = 'webcam' if kind == 'webcam' else Path(args.input).stem
            frames = [dict(frame_id=i, instances=p) for i, p in enumerate(per_item)]
            _write_results(root / f'results_{stem}.json', inferencer.dataset_meta, frames)
        else:
            for name, persons in zip(names, per_item):
                _write_results(root / f'results_{Path(name).stem}.json', inferencer.dataset_meta, persons)
    n_items, n_persons = len(per_item), sum(len(p) for p in per_item)
    noun = 'frame' if kind in ('video', 'webcam') else 'image'
    print(f'{n_items} {noun}{"" if n_items == 1 else "s"}, {n_persons} person{"" if n_persons == 1 else "s"}'
          + (f'; drawings in {root}' if root is not None else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
