"""Detect objects in a camera's frames as they come, and show them.

    python demo/webcam_demo.py CONFIG CHECKPOINT [--device auto|cpu|cuda:0] [--camera-id 0] [--score-thr 0.5]
                               [--out drawn.mp4] [--max-frames N]

``--camera-id`` is a camera index, or anything ``cv2.VideoCapture`` opens: a video file or a stream URL
(``rtsp://...``). The drawn frames are shown in a window (q, Q or Esc quits); ``--out`` also writes them
to a video and ``--max-frames`` stops after N frames, so the demo can run without a display.
"""
from __future__ import annotations

import argparse
import sys

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import ArgumentParser, add_model_args, resolve_device


def _camera(value: str) -> int | str:
    return int(value) if value.lstrip('-').isdigit() else value


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description='Run a detector on a camera stream and show its predictions.')
    add_model_args(parser, score_thr=0.5)
    parser.add_argument('--camera-id', type=_camera, default=0,
                        help='camera index, or a video file / stream URL that OpenCV opens (default: 0)')
    parser.add_argument('--out', default=None, help='also write the drawn frames to this video file')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after this many frames')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    # 'auto': CUDA when there is one; a wrong or absent device fails here, before the video or camera is opened
    args.device = resolve_device(args.device)
    from visioncraft.apis import DetInferencer
    from visioncraft.apis.display import has_display
    from visioncraft.apis.video import VideoIOError, open_video, read_frames

    if not (has_display() or args.out):
        raise VideoIOError('no display to show the camera on (DISPLAY is not set, or OpenCV is a headless '
                           'build); pass --out FILE (and --max-frames N) to write the drawn frames instead')
    cap, info = open_video(args.camera_id)
    inferencer = DetInferencer(args.config, args.checkpoint, device=args.device)
    n = sum(len(out['predictions']) for out in inferencer.iterate_frames(
        read_frames(cap, args.camera_id), name='webcam.mp4', fps=info.fps, total=info.frame_count,
        video_out=args.out, show=has_display(), max_frames=args.max_frames, return_datasamples=True,
        visualize_kwargs=dict(pred_score_thr=args.score_thr)))
    print(f'{n} frames' + (f', wrote {args.out}' if args.out else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
