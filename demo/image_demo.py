"""Detect objects in one image and draw the result.

    python demo/image_demo.py IMG CONFIG [CHECKPOINT] [--device auto|cpu|cuda:0] [--score-thr 0.3]
                              [--out-file result.png] [--async-test]

Without ``--out-file`` the drawing is shown in a window (when a display is available).
"""
from __future__ import annotations

import argparse
import asyncio
import sys

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import ArgumentParser, add_model_args, resolve_device


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description='Run a detector on one image and draw its predictions.')
    parser.add_argument('img', help='image file')
    add_model_args(parser, checkpoint_optional=True)
    parser.add_argument('--out-file', default=None, help='write the drawing here instead of showing it')
    parser.add_argument('--async-test', action='store_true', help='use async_inference_detector')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.device = resolve_device(args.device)  # 'auto': CUDA when there is one
    import numpy as np  # here, as the models: --help stays quick

    from visioncraft.apis import async_inference_detector, inference_detector, init_detector
    from visioncraft.apis.display import FrameWindow
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
    window = FrameWindow('image_demo', wait_time=0)  # warns when there is no display
    window.show(np.ascontiguousarray(drawn[..., ::-1]))
    window.close()
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
