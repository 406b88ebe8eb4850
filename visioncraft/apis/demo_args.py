"""The video and image demos' command lines (``demo/*.py``): the arguments they share and how they report a
mistake in them."""
from __future__ import annotations

import argparse
from collections.abc import Callable

from visioncraft.errors import run_entry_point

__all__ = ['add_model_args', 'add_video_output_args', 'check_video_output_args', 'run_demo']


def add_model_args(parser: argparse.ArgumentParser, *, score_thr: float = 0.3,
                   checkpoint_optional: bool = False) -> None:
    """``CONFIG CHECKPOINT --device --score-thr``, as every detection demo takes them."""
    parser.add_argument('config', help='model config file')
    if checkpoint_optional:
        parser.add_argument('checkpoint', nargs='?', default=None, help='checkpoint file or URL (default: none)')
    else:
        parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--device', default='cuda:0', help="device to run on, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--score-thr', type=float, default=score_thr, help='hide predictions scoring below this')


def add_video_output_args(parser: argparse.ArgumentParser) -> None:
    """``--out FILE --show --wait-time S`` for the demos that draw a video; at least one of ``--out`` and
    ``--show`` must be given (checked by :func:`check_video_output_args`)."""
    parser.add_argument('--out', default=None, help='write the drawn frames to this video file (.mp4, .avi...)')
    parser.add_argument('--show', action='store_true', help='show the drawn frames in a window (q / Esc quits)')
    parser.add_argument('--wait-time', type=float, default=0.001,
                        help='seconds each shown frame stays (default 0.001: as fast as the model runs)')


def check_video_output_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not (args.out or args.show):
        parser.error('say what to do with the drawn frames: --out FILE, --show, or both')


def run_demo(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a demo's ``main``; a video, camera, config or file the user got wrong is printed as one
    ``error: ...`` line with exit status 2 (``VISIONCRAFT_DEBUG=1`` shows the traceback)."""
    return run_entry_point(main, argv)  # VideoIOError is a UserError: one line too
