"""Run an exported text detector or recogniser on an image or a folder, with no config and no training code.

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

from ..data.loading import IMG_EXTENSIONS
from ..visualization import draw_polygons
from .common import ArgumentParser

__all__ = ['predict_main', 'paddle_main', 'list_images', 'run_predictor', 'run_recognizer']



def list_images(path: str | Path) -> list[Path]:
    """``path`` itself when it is a file, else the images directly inside the folder (sorted)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f'image file or folder not found: {p}')
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMG_EXTENSIONS)}) in folder {p}')
    return files


def _read(path: Path) -> np.ndarray:
    from ..data.loading import imread, unreadable_image_reason
    from ..errors import ImageReadError
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
    from ..export.predictor import BACKENDS, load_predictor, TextDetPredictor
    if backend not in BACKENDS:
        raise SystemExit(f'error: unknown backend {backend!r} (choose from {", ".join(BACKENDS)})')
    try:
        if task is None:
            return load_predictor(model_dir, backend=backend, device=device, **kw)
        return TextDetPredictor(model_dir, backend=backend, device=device, **kw)
    except (ValueError, KeyError) as exc:
        raise SystemExit(f'error: {exc}') from None


def predict_main(argv: list[str] | None = None, prog: str = 'visioncraft predict'):
    p = ArgumentParser(prog=prog, description='Detect or recognise text with an exported model (no config '
                                              'needed; the task comes from inference.json).')
    p.add_argument('inputs', help='an image file or a folder of images')
    p.add_argument('--model-dir', required=True, help='a directory written by `visioncraft export`')
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime (model.onnx) or torchscript (model.pt)')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    p.add_argument('--out-dir', default='inference_results',
                   help='where det_results.txt and pictures (rec_results.txt for a recogniser) go')
    p.add_argument('--no-draw', action='store_true', help='do not write pictures')
    p.add_argument('--batch-size', type=int, default=8, help='word images per batch (recognisers)')
    args = p.parse_args(argv)
    predictor = _predictor(args.model_dir, args.backend, args.device, task=None)
    if getattr(predictor, 'info', {}).get('task') == 'textrecog':
        return run_recognizer(predictor, args.inputs, args.out_dir, batch_size=args.batch_size)
    return run_predictor(predictor, args.inputs, args.out_dir, paddle_style=False, draw=not args.no_draw)


def _str2bool(v: str) -> bool:
    if v.lower() in ('true', '1', 'yes', 't', 'y'):
        return True
    if v.lower() in ('false', '0', 'no', 'f', 'n'):
        return False
    raise argparse.ArgumentTypeError(f'expected True or False, got {v!r}')


def paddle_main(argv: list[str] | None = None, prog: str = 'tools/infer/predict_det.py'):
    p = ArgumentParser(prog=prog, description="Text detection with an exported model, PaddleOCR's flags.")
    p.add_argument('--det_algorithm', default='DB', help='only DB (DBNet / DBNet++) exports exist')
    p.add_argument('--det_model_dir', required=True, help='a directory written by tools/export_model.py')
    p.add_argument('--image_dir', required=True, help='an image file or a folder of images')
    p.add_argument('--use_gpu', type=_str2bool, default=False)
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime (model.onnx) or torchscript (model.pt)')
    p.add_argument('--det_db_thresh', type=float, default=None, help='binarisation threshold (default: exported)')
    p.add_argument('--det_db_box_thresh', type=float, default=None, help='box score threshold')
    p.add_argument('--det_db_unclip_ratio', type=float, default=None, help='un-shrink ratio')
    p.add_argument('--det_db_score_mode', choices=['fast', 'slow'], default=None)
    p.add_argument('--use_dilation', type=_str2bool, default=None)
    p.add_argument('--det_box_type', choices=['quad', 'poly'], default=None)
    p.add_argument('--det_limit_side_len', type=int, default=None,
                   help="with --det_limit_type, replaces the exported resize by DetResizeForTest")
    p.add_argument('--det_limit_type', choices=['max', 'min'], default=None)
    p.add_argument('--draw_img_save_dir', default='./inference_results')
    args = p.parse_args(argv)
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
    predictor = _predictor(args.det_model_dir, args.backend, 'cuda' if args.use_gpu else 'cpu',
                           postprocess=post, resize=resize)
    return run_predictor(predictor, args.image_dir, args.draw_img_save_dir, paddle_style=True)


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(predict_main, sys.argv[1:])
