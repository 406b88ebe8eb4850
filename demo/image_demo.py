"""Detect objects in one image and draw the result.

    python demo/image_demo.py IMG CONFIG [CHECKPOINT] [--device cpu] [--score-thr 0.3]
                              [--out-file result.png] [--async-test]

Without ``--out-file`` the drawing is shown in a window (when a display is available).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import warnings


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run a detector on one image and draw its predictions.')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', nargs='?', default=None, help='checkpoint file or URL (default: none)')
    parser.add_argument('--device', default='cuda:0', help="device to run on, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--score-thr', type=float, default=0.3, help='hide predictions scoring below this')
    parser.add_argument('--out-file', default=None, help='write the drawing here instead of showing it')
    parser.add_argument('--async-test', action='store_true', help='use async_inference_detector')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from visioncraft.apis import async_inference_detector, inference_detector, init_detector
    from visioncraft.tasks.detection.visualization import show_result

    model = init_detector(args.config, args.checkpoint, device=args.device)
    if args.async_test:
        result = asyncio.run(async_inference_detector(model, args.img))
    else:
        result = inference_detector(model, args.img)
    drawn = show_result(args.img, result, out_file=args.out_file, score_thr=args.score_thr,
                        classes=model.dataset_meta.get('classes'))
    if args.out_file is not None:
        print(f'wrote {args.out_file}')
        return 0
    if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
        warnings.warn('no display to show the result on; pass --out-file to save it instead')
        return 0
    import cv2
    try:
        cv2.imshow('image_demo', drawn[..., ::-1])
        cv2.waitKey(0)
    except cv2.error as exc:
        warnings.warn(f'could not open a window ({exc}); pass --out-file to save the result instead')
    return 0


if __name__ == '__main__':
    sys.exit(main())
