"""Estimate the pose of the person filling an image (the whole image is the box) and draw it.

    python demo/pose_image_demo.py IMG POSE_CONFIG POSE_CHECKPOINT [--out-file vis.jpg] [--device auto|cpu|cuda:0]
                                   [--draw-heatmap] [--show-kpt-idx] [--kpt-thr 0.3] [--radius 3]
                                   [--thickness 1] [--alpha 0.8] [--show]

MMPose's ``demo/image_demo.py``: :class:`visioncraft.apis.PoseInferencer` without a person detector (the whole
image is the box). Without ``--out-file`` the drawing is shown (when a display is available).
"""
from __future__ import annotations

import argparse
import sys

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import ArgumentParser, add_device_arg, resolve_device


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description='Run a top-down pose model on a whole image and draw it.')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='pose config file')
    parser.add_argument('checkpoint', help='pose checkpoint file or URL')
    parser.add_argument('--out-file', default=None, help='write the drawing here instead of showing it')
    add_device_arg(parser)
    parser.add_argument('--draw-heatmap', action='store_true', help='draw the predicted heatmaps under the image')
    parser.add_argument('--show-kpt-idx', action='store_true', help='write each keypoint index next to it')
    parser.add_argument('--skeleton-style', default='mmpose', choices=['mmpose'], help='skeleton style')
    parser.add_argument('--kpt-thr', type=float, default=0.3, help='keypoints scoring below this are not drawn')
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius in pixels')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness in pixels')
    parser.add_argument('--alpha', type=float, default=0.8, help='opacity of keypoints and links')
    parser.add_argument('--show', action='store_true', help='also show the drawing in a window')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.device = resolve_device(args.device)  # 'auto': CUDA when there is one
    import numpy as np  # here, as the models: --help stays quick

    from visioncraft.apis import PoseInferencer
    from visioncraft.apis.display import FrameWindow
    from visioncraft.apis.inputs import image_items
    from visioncraft.fileio.image import imwrite

    image_items(args.img, 'pose_image_demo')  # a missing image fails before the model loads
    inferencer = PoseInferencer(args.config, args.checkpoint, device=args.device,
                                visualizer=dict(radius=args.radius, line_width=args.thickness, alpha=args.alpha))
    result = next(inferencer(args.img, kpt_thr=args.kpt_thr, draw_heatmap=args.draw_heatmap,
                             show_kpt_idx=args.show_kpt_idx, skeleton_style=args.skeleton_style, return_vis=True))
    drawn = np.ascontiguousarray(result['visualization'][0][..., ::-1])
    if args.out_file is not None:
        imwrite(args.out_file, drawn, '--out-file')
        print(f'wrote {args.out_file}')
    if args.out_file is None or args.show:
        window = FrameWindow('pose_image_demo', wait_time=0)  # warns when there is no display
        window.show(drawn)
        window.close()
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
