"""``visioncraft det IMG_OR_DIR_OR_VIDEO --model CONFIG --weights CKPT [--out-dir outputs] ...``: object detection
with :class:`visioncraft.apis.DetInferencer` (MMDetection 3.x's ``demo/image_demo.py``).

Writes, per image, ``<out-dir>/preds/<stem>.json`` (``labels``, ``scores``, ``bboxes`` xyxy pixels and, for instance
segmentation, ``masks`` as COCO RLEs; every prediction, whatever ``--pred-score-thr``) and ``<out-dir>/vis/<name>``
(the predictions scoring at least ``--pred-score-thr`` drawn); a video gives ``<out-dir>/preds/<stem>.json`` (one
entry per frame) and the drawn video ``<out-dir>/vis/<video name>``. ``--model`` is a config file (with
``--weights``), the name of a detection config (``configs/faster_rcnn/``, ``configs/retinanet/``, ...), or a directory
written by ``visioncraft export``.
"""
from __future__ import annotations

import argparse
import sys
import time

from ..apis.det_inferencer import DetInferencer
from ..apis.inputs import image_items, input_kind
from ..apis.writers import unique_names
from .parsers import det_parser as build_parser
from .parsers import resolve_device

__all__ = ['build_parser', 'main', 'run']


def _counted(n: int, noun: str) -> str:
    return f'{n} {noun}' if n == 1 else f'{n} {noun}s'


def main(argv: list[str] | None = None, prog: str = 'visioncraft det'):
    """Returns ``{input name: {'labels', 'scores', 'bboxes'[, 'masks']}}`` for images (``{'frames': [...]}`` for a
    video or a camera)."""
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace, who: str = 'visioncraft det'):
    """Detection as the parsed ``args`` (of :func:`build_parser`) say; returns what :func:`main` does."""
    if args.batch_size < 1:
        raise SystemExit(f'error: --batch-size must be >= 1, got {args.batch_size}')
    kind = input_kind(args.inputs)
    stream = kind in ('video', 'webcam')
    names = [] if stream else unique_names([n for _, n in image_items(args.inputs, who)])  # before the model loads
    device = resolve_device(args.device)  # 'auto': CUDA when there is one
    if args.no_save_vis and args.no_save_pred and not (args.show or args.print_result):
        print(f'{who}: --no-save-vis and --no-save-pred: nothing is written (add --show or --print-result)',
              file=sys.stderr)
    inferencer = DetInferencer(args.model, args.weights, device=device, palette=args.palette)
    t0 = time.perf_counter()
    result = inferencer(args.inputs, batch_size=args.batch_size, show=args.show, no_save_vis=args.no_save_vis,
                        pred_score_thr=args.pred_score_thr, print_result=args.print_result,
                        no_save_pred=args.no_save_pred, out_dir=args.out_dir)
    seconds = time.perf_counter() - t0
    preds = result['predictions']
    found = sum(sum(s >= args.pred_score_thr for s in p['scores']) for p in preds)
    written = [f'{args.out_dir}/{sub}' for sub, off in (('vis', args.no_save_vis), ('preds', args.no_save_pred))
               if not off]
    print(f'{_counted(len(preds), "frame" if stream else "image")}, {_counted(found, "object")} scoring >= '
          f'{args.pred_score_thr:g} in {seconds:.2f} s' + (f'; results in {", ".join(written)}' if written else ''))
    return {'frames': preds} if stream else dict(zip(names, preds))


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
