"""Detect objects in a video with the pre-processing on the GPU.

    python demo/video_gpuaccel_demo.py VIDEO CONFIG CHECKPOINT [--device auto|cpu|cuda:0] [--score-thr 0.3]
                                       [--nvdecode] [--batch-size 4] [--out result.mp4] [--show]
                                       [--wait-time 1]

Unlike ``video_demo.py``, frames skip the numpy test pipeline: each batch of frames goes to the device as
one uint8 tensor, is resized there as the config's ``Resize`` says, then normalised and padded by the
model's data preprocessor (:class:`visioncraft.apis.video_detection.DevicePipeline`, run by
:class:`~visioncraft.apis.video_detection.DeviceDetInferencer`). Frames are decoded by OpenCV,
or with ``--nvdecode`` on the GPU by torchcodec (``pip install torchcodec``). Runs on ``--device cpu``
too (without ``--nvdecode``), with the same predictions.
"""
from __future__ import annotations

import argparse
import sys

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import (ArgumentParser, add_model_args, add_video_output_args, check_video_output_args,
                                     resolve_device)


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description='Run a detector on a video with the frame pre-processing on '
                                        'the device, and draw its predictions.')
    parser.add_argument('video', help='video file')
    add_model_args(parser)
    parser.add_argument('--nvdecode', action='store_true', help='decode the video on the GPU (needs torchcodec)')
    parser.add_argument('--batch-size', type=int, default=4, help='frames per model call (default 4)')
    add_video_output_args(parser)
    args = parser.parse_args(argv)
    check_video_output_args(parser, args)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be at least 1, got {args.batch_size}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # 'auto': CUDA when there is one; a wrong or absent device fails here, before the video or camera is opened
    args.device = resolve_device(args.device)
    from pathlib import Path

    from visioncraft.apis.video import decode_on_gpu, open_video, read_frames
    from visioncraft.apis.video_detection import DeviceDetInferencer

    if args.nvdecode:
        frames, info = decode_on_gpu(args.video, args.device)
    else:
        cap, info = open_video(args.video)
        frames = read_frames(cap, args.video)
    inferencer = DeviceDetInferencer(args.config, args.checkpoint, device=args.device)
    n = sum(len(out['predictions']) for out in inferencer.iterate_frames(
        frames, name=Path(args.video).name, fps=info.fps, total=info.frame_count, batch_size=args.batch_size,
        video_out=args.out, show=args.show, wait_time=args.wait_time, return_datasamples=True,
        visualize_kwargs=dict(pred_score_thr=args.score_thr)))
    print(f'{n} frames' + (f', wrote {args.out}' if args.out else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
