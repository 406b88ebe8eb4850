"""Detect objects in every frame of a video and draw them.

    python demo/video_demo.py VIDEO CONFIG CHECKPOINT [--device auto|cpu|cuda:0] [--score-thr 0.3]
                              [--out result.mp4] [--show] [--wait-time 1]

Frames are read with OpenCV and run one by one through the config's test pipeline by
:class:`visioncraft.apis.DetInferencer`. ``--out`` writes the drawn frames with the input's fps and
size (the codec follows the extension: .mp4, .avi, ...); ``--show`` shows them in a window (q / Esc
quits). Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import sys

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import (ArgumentParser, add_model_args, add_video_output_args, check_video_output_args,
                                     resolve_device)


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description='Run a detector on every frame of a video and draw its predictions.')
    parser.add_argument('video', help='video file (or stream URL)')
    add_model_args(parser)
    add_video_output_args(parser)
    args = parser.parse_args(argv)
    check_video_output_args(parser, args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # 'auto': CUDA when there is one; a wrong or absent device fails here, before the video or camera is opened
    args.device = resolve_device(args.device)
    from pathlib import Path

    from visioncraft.apis import DetInferencer
    from visioncraft.apis.video import open_video, read_frames

    cap, info = open_video(args.video)  # before the model: a wrong path fails at once
    inferencer = DetInferencer(args.config, args.checkpoint, device=args.device)
    n = sum(len(out['predictions']) for out in inferencer.iterate_frames(
        read_frames(cap, args.video), name=Path(args.video).name, fps=info.fps, total=info.frame_count,
        video_out=args.out, show=args.show, wait_time=args.wait_time, return_datasamples=True,
        visualize_kwargs=dict(pred_score_thr=args.score_thr)))
    print(f'{n} frames' + (f', wrote {args.out}' if args.out else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
