"""Detect objects in every frame of a video and draw them.

    python demo/video_demo.py VIDEO CONFIG CHECKPOINT [--device auto|cpu|cuda:0] [--score-thr 0.3]
                              [--out result.mp4] [--show] [--wait-time 1]

Frames are read with OpenCV and run one by one through the config's test pipeline
(:func:`visioncraft.apis.inference_detector`). ``--out`` writes the drawn frames with the input's fps and
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
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.apis.display import FrameWindow
    from visioncraft.apis.video import open_video, read_frames
    from visioncraft.apis.video_detection import FrameDrawer, run_on_stream

    cap, info = open_video(args.video)  # before the model: a wrong path fails at once
    model = init_detector(args.config, args.checkpoint, device=args.device)
    window = FrameWindow('video_demo', args.wait_time) if args.show else None
    n = run_on_stream(read_frames(cap, args.video), lambda frames: inference_detector(model, frames),
                      drawer=FrameDrawer(args.score_thr, model.dataset_meta.get('classes')), fps=info.fps,
                      out=args.out, window=window, total=info.frame_count)
    print(f'{n} frames' + (f', wrote {args.out}' if args.out else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
