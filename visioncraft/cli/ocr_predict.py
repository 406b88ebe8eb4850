"""OCR with an exported model: run a text detector or recogniser written by ``visioncraft export`` on an image or a
folder, with no config and no training code (end-to-end OCR with both is ``visioncraft ocr``, :mod:`.ocr`).

* ``visioncraft predict IMG_OR_DIR --model-dir DIR [--backend onnxruntime|torchscript] [--out-dir DIR]``
* ``tools/infer/predict_det.py --det_algorithm=DB --det_model_dir=DIR --image_dir=IMG_OR_DIR --use_gpu=False``
  (PaddleOCR's flags: ``--det_db_thresh``, ``--det_db_box_thresh``, ``--det_db_unclip_ratio``,
  ``--det_limit_side_len``, ``--det_limit_type``, ``--draw_img_save_dir``).

Both write ``det_results.txt`` (one line per image: ``name\\t[{"points": [[x, y], ...]}, ...]``, PaddleOCR's
layout) and ``det_res_<name>`` pictures with the polygons drawn, into the output folder (default
``./inference_results``). ``visioncraft predict`` writes float coordinates and each polygon's ``score``;
``predict_det.py`` writes PaddleOCR's integer points (clipped to the image) and no score.

For a recogniser export (``task: textrecog`` in ``inference.json``) ``visioncraft predict`` reads every image as
one word crop and writes ``rec_results.txt`` (``name\ttext\tscore``, PaddleOCR's ``predict_rec`` layout), in
batches of ``--batch-size``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..apis.inputs import list_images
from ..errors import DeviceError, ImageReadError
from ..export.predictor import BACKENDS, TextDetPredictor, load_predictor
from ..fileio.image import imread, unreadable_image_reason
from ..visualization import draw_polygons
from .parsers import predict_det_parser, predict_parser, resolve_device

__all__ = ['predict_main', 'paddle_main', 'run_predict', 'run_predict_det', 'run_predictor', 'run_recognizer']


def _read(path: Path) -> np.ndarray:
    img = imread(path)
    if img is None:
        raise ImageReadError(f'could not read image {path}: it {unreadable_image_reason(path)}')
    return img


def _draw(img: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    return draw_polygons(img.copy(), polygons, (0, 0, 255), 2)


def run_predictor(predictor, inputs: str | Path, out_dir: str | Path, *, paddle_style: bool,
                  draw: bool = True) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """Predict every image of ``inputs``; write ``det_results.txt`` and the drawn pictures to ``out_dir``.
    Returns ``{file name: (polygons, scores)}``."""
    import cv2
    files = list_images(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, lines = {}, []
    total = 0.0
    for f in files:
        img = _read(f)
        t0 = time.perf_counter()
        polys, scores = predictor(img)
        total += time.perf_counter() - t0
        results[f.name] = (polys, scores)
        items = []
        for p, s in zip(polys, scores):
            xy = np.asarray(p, np.float64).reshape(-1, 2)
            if paddle_style:  # PaddleOCR: integer points inside the image
                h, w = img.shape[:2]
                xy = np.stack([xy[:, 0].clip(0, w - 1), xy[:, 1].clip(0, h - 1)], 1)
                items.append({'points': np.round(xy).astype(int).tolist()})
            else:
                items.append({'points': np.round(xy, 2).tolist(), 'score': round(float(s), 4)})
        lines.append(f'{f.name}\t{json.dumps(items)}\n')
        if draw:
            cv2.imwrite(str(out / f'det_res_{f.name}'), _draw(img, polys))
        print(f'{f}: {len(polys)} text regions')
    (out / 'det_results.txt').write_text(''.join(lines))
    print(f'{len(files)} images in {total:.2f} s (model + pre/post-processing); results in '
          f'{out / "det_results.txt"}')
    return results


def run_recognizer(predictor, inputs: str | Path, out_dir: str | Path, *, batch_size: int = 8
                   ) -> dict[str, tuple[str, float]]:
    """Read every image of ``inputs`` as one word with an exported recogniser; write ``rec_results.txt``
    (``name\ttext\tscore``) to ``out_dir``. Returns ``{file name: (text, score)}``."""
    files = list_images(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, tuple[str, float]] = {}
    t0 = time.perf_counter()
    for start in range(0, len(files), max(1, int(batch_size))):
        chunk = files[start:start + max(1, int(batch_size))]
        for f, (text, score, _chars) in zip(chunk, predictor([_read(f) for f in chunk])):
            results[f.name] = (text, score)
            print(f'{f}: {text!r} ({score:.3f})')
    (out / 'rec_results.txt').write_text(''.join(f'{n}\t{t}\t{s:.4f}\n' for n, (t, s) in results.items()))
    print(f'{len(files)} word images in {time.perf_counter() - t0:.2f} s; results in {out / "rec_results.txt"}')
    return results


def _predictor(model_dir, backend, device, task: str | None = 'textdet', **kw):
    if backend not in BACKENDS:
        raise SystemExit(f'error: unknown backend {backend!r} (choose from {", ".join(BACKENDS)})')
    try:
        if task is None:
            return load_predictor(model_dir, backend=backend, device=device, **kw)
        return TextDetPredictor(model_dir, backend=backend, device=device, **kw)
    except (ValueError, KeyError) as exc:
        raise SystemExit(f'error: {exc}') from None


def predict_main(argv: list[str] | None = None, prog: str = 'visioncraft predict'):
    return run_predict(predict_parser(prog).parse_args(argv))


def run_predict(args: argparse.Namespace):
    """``visioncraft predict`` as the parsed ``args`` (of :func:`.parsers.predict_parser`) say."""
    predictor = _predictor(args.model_dir, args.backend, resolve_device(args.device), task=None)
    if getattr(predictor, 'info', {}).get('task') == 'pose':
        from .pose_predict import run_pose_predictor  # deferred: only pose exports need the pose drawing
        return run_pose_predictor(predictor, args.inputs, args.out_dir, draw=not args.no_draw)
    if getattr(predictor, 'info', {}).get('task') == 'detection':  # preds/<stem>.json and vis/<name>
        from ..export.det_predictor import predict_to_folder  # deferred: only detector exports draw boxes
        return predict_to_folder(predictor, args.inputs, args.out_dir, draw=not args.no_draw, score_thr=args.score_thr)
    if getattr(predictor, 'info', {}).get('task') == 'textrecog':
        return run_recognizer(predictor, args.inputs, args.out_dir, batch_size=args.batch_size)
    return run_predictor(predictor, args.inputs, args.out_dir, paddle_style=False, draw=not args.no_draw)


def paddle_main(argv: list[str] | None = None, prog: str = 'tools/infer/predict_det.py'):
    return run_predict_det(predict_det_parser(prog).parse_args(argv))


def run_predict_det(args: argparse.Namespace):
    """``tools/infer/predict_det.py`` as the parsed ``args`` (of :func:`.parsers.predict_det_parser`) say."""
    if args.det_algorithm not in ('DB', 'DB++'):
        raise SystemExit(f'error: --det_algorithm={args.det_algorithm!r} is not supported (only DB / DB++)')
    post = {k: v for k, v in (('thresh', args.det_db_thresh), ('box_thresh', args.det_db_box_thresh),
                              ('unclip_ratio', args.det_db_unclip_ratio), ('score_mode', args.det_db_score_mode),
                              ('use_dilation', args.use_dilation), ('text_repr_type', args.det_box_type))
            if v is not None}
    resize = None
    if args.det_limit_side_len is not None or args.det_limit_type is not None:
        # PaddleOCR's defaults for whichever of the two is not given
        resize = dict(type='DetResizeForTest', limit_side_len=args.det_limit_side_len or 960,
                      limit_type=args.det_limit_type or 'max')
    # PaddleOCR's --use_gpu=True on a machine without a GPU is one error line (DeviceError), not a traceback
    if args.use_gpu and not torch.cuda.is_available():
        raise DeviceError('--use_gpu=True: this machine has no CUDA GPU that PyTorch can use '
                          '(torch.cuda.is_available() is False); run with --use_gpu=False')
    device = 'cuda' if args.use_gpu else 'cpu'
    predictor = _predictor(args.det_model_dir, args.backend, device, postprocess=post, resize=resize)
    return run_predictor(predictor, args.image_dir, args.draw_img_save_dir, paddle_style=True)


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(predict_main, sys.argv[1:])
