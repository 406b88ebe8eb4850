"""``visioncraft ocr IMG_OR_DIR --det CONFIG_OR_EXPORTED --rec CONFIG_OR_EXPORTED``: end-to-end OCR.

Detects text regions, cuts them out (perspective-rectified) and reads them (:class:`visioncraft.apis.ocr.
OCRInferencer`); writes ``<name>.json`` (polygon, det_score, text, rec_score per region) and ``<name>_ocr.jpg``
per image into ``--out-dir`` (default ``ocr_results``). ``--det`` / ``--rec`` are each a config file (then
``--det-weights`` / ``--rec-weights`` give the checkpoint) or a directory written by ``visioncraft export``.

With ``--eval ANN`` (an MMOCR textdet JSON with transcriptions) the images are the dataset's (``img_path``
relative to IMG_OR_DIR, the data root) and the end-to-end and detection-only hmean are printed and written to
``<out-dir>/eval.json`` (see :func:`visioncraft.apis.ocr.evaluate_ocr`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .common import ArgumentParser

__all__ = ['build_parser', 'main']


def build_parser(prog: str = 'visioncraft ocr') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Detect and read text: a text detector and a recogniser, '
                                              'each a config file + checkpoint or an exported directory.')
    p.add_argument('inputs', help='an image file or a folder of images (with --eval: the data root)')
    p.add_argument('--det', required=True, help='text-detection config file or exported model directory')
    p.add_argument('--det-weights', default=None, help='checkpoint of the --det config')
    p.add_argument('--rec', required=True, help='text-recognition config file or exported model directory')
    p.add_argument('--rec-weights', default=None, help='checkpoint of the --rec config')
    p.add_argument('--out-dir', default='ocr_results', help='where the JSON files and pictures go')
    p.add_argument('--batch-size', type=int, default=8, help='word crops per recognition batch')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime or torchscript (exported directories)')
    p.add_argument('--crop-margin', type=float, default=0.0,
                   help='grow each region by this share of its height on every side before reading it (e.g. 0.2)')
    p.add_argument('--no-draw', action='store_true', help='write the JSON files only, no pictures')
    p.add_argument('--eval', default=None, metavar='ANN',
                   help='MMOCR textdet JSON with transcriptions: run on its images and report e2e / det hmean')
    return p


def main(argv: list[str] | None = None, prog: str = 'visioncraft ocr'):
    args = build_parser(prog).parse_args(argv)
    from ..apis.ocr import OCRInferencer, evaluate_ocr
    from .predict import list_images
    if args.batch_size < 1:
        raise SystemExit(f'error: --batch-size must be >= 1, got {args.batch_size}')
    if args.eval is None:
        files = list_images(args.inputs)  # a missing input fails before the models load
    elif not Path(args.eval).is_file():
        raise FileNotFoundError(f'--eval: annotation file not found: {args.eval}')
    elif not Path(args.inputs).is_dir():
        raise FileNotFoundError(f'--eval: the data root {args.inputs} is not a folder')
    try:
        inferencer = OCRInferencer(args.det, args.rec, det_weights=args.det_weights, rec_weights=args.rec_weights,
                                   device=args.device, batch_size=args.batch_size, backend=args.backend,
                                   crop_margin=args.crop_margin)
    except ValueError as exc:
        raise SystemExit(f'error: {exc}') from None
    if args.eval is not None:
        metrics = evaluate_ocr(inferencer, args.eval, args.inputs, out_dir=args.out_dir, draw=not args.no_draw,
                               progress=True)
        keys = ('e2e/hmean', 'e2e/precision', 'e2e/recall', 'icdar/hmean', 'icdar/precision', 'icdar/recall',
                'word_accuracy_matched', 'num_gt', 'num_gt_outside_dictionary', 'images_per_s')
        print('  '.join(f'{k}: {metrics[k]:.4f}' if isinstance(metrics.get(k), float) else f'{k}: {metrics.get(k)}'
                        for k in keys))
        print(f'metrics in {Path(args.out_dir) / "eval.json"}')
        return metrics
    out = {}
    t0 = time.perf_counter()
    for f in files:
        res = inferencer(str(f), out_dir=args.out_dir, draw=not args.no_draw)
        out[f.name] = res
        print(f'{f}: {json.dumps([r["text"] for r in res], ensure_ascii=False)}')
    print(f'{len(files)} images in {time.perf_counter() - t0:.2f} s; results in {args.out_dir}')
    return out


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
