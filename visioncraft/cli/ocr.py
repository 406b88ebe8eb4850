"""``visioncraft ocr IMG_OR_DIR [--det CONFIG_OR_EXPORTED_OR_NAME --rec CONFIG_OR_EXPORTED_OR_NAME] [--cls]``:
end-to-end OCR.

Detects text regions, cuts them out (perspective-rectified) and reads them (:class:`visioncraft.apis.OCRInferencer`);
writes ``<name>.json`` (polygon, det_score, text, rec_score per region) and ``<name>_ocr.jpg`` per image into
``--out-dir`` (default ``ocr_results``) and prints each image's texts, one line each. ``--det`` / ``--rec`` are each
a config file (then ``--det-weights`` / ``--rec-weights`` give the checkpoint) or a directory written by
``visioncraft export``, or both a named model: ``PP-OCRv4`` (the default with neither given) runs PaddleOCR's system
on the official weights, converted once from the installed rapidocr_onnxruntime's ONNX files and cached in
``--cache-dir`` (:mod:`visioncraft.apis.ppocr_models`); ``--cls`` adds the direction classifier.

With ``--eval ANN`` (an MMOCR textdet JSON with transcriptions) the images are the dataset's (``img_path``
relative to IMG_OR_DIR, the data root) and the end-to-end and detection-only hmean are printed and written to
``<out-dir>/eval.json`` (see :func:`visioncraft.apis.evaluate_ocr`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..apis.inputs import list_images
from ..apis.ocr_evaluation import evaluate_ocr
from ..apis.ocr_inferencer import OCRInferencer
from .parsers import ocr_parser as build_parser
from .parsers import resolve_device

__all__ = ['build_parser', 'main', 'run']


def main(argv: list[str] | None = None, prog: str = 'visioncraft ocr'):
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace):
    """OCR as the parsed ``args`` (of :func:`build_parser`) say; returns the per-image results (the metrics with
    ``--eval``)."""
    if args.batch_size is not None and args.batch_size < 1:
        raise SystemExit(f'error: --batch-size must be >= 1, got {args.batch_size}')
    if args.eval is None:
        files = list_images(args.inputs)  # a missing input fails before the models load
    elif not Path(args.eval).is_file():
        raise FileNotFoundError(f'--eval: annotation file not found: {args.eval}')
    elif not Path(args.inputs).is_dir():
        raise FileNotFoundError(f'--eval: the data root {args.inputs} is not a folder')
    device = resolve_device(args.device)  # 'auto': CUDA when there is one
    try:
        inferencer = OCRInferencer(args.det, args.rec, det_weights=args.det_weights, rec_weights=args.rec_weights,
                                   device=device, batch_size=args.batch_size, backend=args.backend,
                                   crop_margin=args.crop_margin, cls=args.cls, cache_dir=args.cache_dir)
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
        print(f'{f}: {len(res)} text {"line" if len(res) == 1 else "lines"}')
        for r in res:
            print(f'  {r["text"]}')
    print(f'{len(files)} images in {time.perf_counter() - t0:.2f} s; results in {args.out_dir}')
    return out


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
