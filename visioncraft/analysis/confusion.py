"""The detection confusion matrix (``tools/analysis_tools/confusion_matrix.py``), with MMDetection's background row
and column, from a predictions pickle (``tools/test.py CONFIG CKPT --out results.pkl``) and the test dataset's
ground truth.

The matrix is ``(C + 1) x (C + 1)`` counts, rows the ground-truth class, columns the predicted class, index ``C``
the background. Per image, the predictions scoring ``>= score_thr`` are kept (then, with ``nms_iou_thr``, a
per-class NMS at that IoU); then, with IoU ``>= tp_iou_thr`` counted as a hit:

* every ground-truth box adds 1 to ``[its class, predicted class]`` for each prediction that hits it (a correct
  detection on the diagonal, a confusion off it), and 1 to ``[its class, background]`` when none does (a miss);
* every prediction that hits no ground-truth box adds 1 to ``[background, its class]`` (a false positive).

Crowd / ignored ground truths (``ignore_flag=1``) are not counted; a prediction that hits one (intersection over
the prediction's area ``>= tp_iou_thr``) is left out rather than counted as a false positive.

The picture (``confusion_matrix.png``) shows each row as percentages of its sum, drawn with OpenCV;
``confusion_matrix.json`` holds the raw counts.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentParser, UserError
from .inputs import (add_cfg_options, add_prediction_args, build_dataset, check_predictions_fit, load_predictions,
                     prediction_task, read_config)

__all__ = ['build_parser', 'main', 'run', 'box_iou', 'class_nms', 'image_confusion', 'confusion_matrix',
           'draw_confusion_matrix', 'COLOR_THEMES']

#: ``--color-theme`` names (OpenCV's colour maps); ``NAME_r`` reverses one, as in matplotlib
COLOR_THEMES = ('plasma', 'viridis', 'inferno', 'magma', 'cividis', 'turbo', 'jet', 'parula', 'hot', 'bone', 'cool',
                'autumn', 'winter', 'summer', 'spring', 'ocean', 'rainbow', 'pink', 'hsv', 'twilight', 'deepgreen')


def build_parser(prog: str = 'tools/analysis_tools/confusion_matrix.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Detection confusion matrix (with a background row and column) of a '
                                              'predictions pickle against the test dataset of a config.')
    add_prediction_args(p)
    p.add_argument('save_dir', help='folder for confusion_matrix.png and confusion_matrix.json')
    p.add_argument('--score-thr', type=float, default=0.3, help='predictions scoring below this are left out')
    p.add_argument('--tp-iou-thr', type=float, default=0.5, help='IoU at which a prediction hits a ground truth')
    p.add_argument('--nms-iou-thr', type=float, default=None,
                   help='run a per-class NMS at this IoU on the kept predictions first (default: none)')
    p.add_argument('--show', action='store_true', help='also show the picture in a window (needs a display)')
    p.add_argument('--color-theme', default='plasma',
                   help=f'colour map of the cells: {", ".join(COLOR_THEMES)} (NAME_r reverses it)')
    add_cfg_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str = 'tools/analysis_tools/confusion_matrix.py') -> dict:
    return run(build_parser(prog).parse_args(argv))


# -- the matrix ---------------------------------------------------------------------------------------------------
def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (float64 N x M) of xyxy boxes ``a`` (N x 4) and ``b`` (M x 4), continuous pixel coordinates."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    inter = _intersection(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def box_iof(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the area of ``b`` (float64 N x M): how much of each box ``b`` lies inside each ``a``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    inter = _intersection(a, b)
    return np.divide(inter, area_b[None, :], out=np.zeros_like(inter), where=area_b[None, :] > 0)


def class_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_thr: float) -> np.ndarray:
    """Indices (int64, best score first) of the boxes a greedy per-class NMS at ``iou_thr`` keeps."""
    order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
    keep: list[int] = []
    iou = box_iou(boxes, boxes)
    for i in order:
        if all(labels[j] != labels[i] or iou[i, j] <= iou_thr for j in keep):
            keep.append(int(i))
    return np.asarray(keep, np.int64)


def image_confusion(gt_boxes: np.ndarray, gt_labels: np.ndarray, gt_ignore: np.ndarray, boxes: np.ndarray,
                    scores: np.ndarray, labels: np.ndarray, num_classes: int, *, score_thr: float = 0.3,
                    tp_iou_thr: float = 0.5, nms_iou_thr: float | None = None) -> np.ndarray:
    """The ``(C + 1) x (C + 1)`` int64 counts of one image (see the module docstring).

    Args:
        gt_boxes: G x 4 xyxy, gt_labels: G (0..C-1), gt_ignore: G bool (crowd / ignored).
        boxes: P x 4 xyxy, scores: P, labels: P (0..C-1): the predictions, in the same pixels.
    """
    matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    bg = num_classes
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, np.int64).reshape(-1)
    gt_ignore = np.asarray(gt_ignore, bool).reshape(-1)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    keep = np.nonzero(scores >= score_thr)[0]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if nms_iou_thr is not None and len(boxes):
        keep = class_nms(boxes, scores, labels, nms_iou_thr)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    counted = ~gt_ignore
    hits = box_iou(gt_boxes[counted], boxes) >= tp_iou_thr  # G' x P
    for g, label in enumerate(gt_labels[counted]):
        found = np.nonzero(hits[g])[0]
        if len(found) == 0:
            matrix[label, bg] += 1
        for j in found:
            matrix[label, labels[j]] += 1
    on_crowd = (box_iof(gt_boxes[gt_ignore], boxes) >= tp_iou_thr).any(axis=0) if gt_ignore.any() \
        else np.zeros(len(boxes), bool)
    for j in np.nonzero(~hits.any(axis=0) & ~on_crowd)[0]:
        matrix[bg, labels[j]] += 1
    return matrix


def confusion_matrix(ground_truth: Sequence[dict], predictions: Sequence[dict], num_classes: int, *,
                     score_thr: float = 0.3, tp_iou_thr: float = 0.5, nms_iou_thr: float | None = None,
                     where: str = 'predictions') -> np.ndarray:
    """The summed ``(C + 1) x (C + 1)`` int64 counts over images.

    Args:
        ground_truth: per image, the dataset's data info (``instances``: ``bbox`` xyxy, ``bbox_label``,
            ``ignore_flag``) in original-image pixels.
        predictions: per image, a dict with ``pred_instances`` (``bboxes`` xyxy original pixels, ``scores``,
            ``labels``), tensors or arrays.
        where: names the predictions in errors.
    """
    total = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for i, (info, pred) in enumerate(zip(ground_truth, predictions)):
        gt_boxes, gt_labels, gt_ignore = gt_arrays(info, num_classes, i)
        boxes, scores, labels = pred_arrays(pred, i, where)
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if len(bad):
            raise UserError(f'{where}: sample {i} predicts label {int(bad[0])} but the dataset has {num_classes} '
                            'classes: were the predictions made with this config?')
        total += image_confusion(gt_boxes, gt_labels, gt_ignore, boxes, scores, labels, num_classes,
                                 score_thr=score_thr, tp_iou_thr=tp_iou_thr, nms_iou_thr=nms_iou_thr)
    return total


def gt_arrays(info: dict, num_classes: int | None, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes G x 4, labels G, ignore G bool)`` of a detection data info's ``instances``."""
    instances = info.get('instances') or []
    boxes = np.asarray([inst['bbox'] for inst in instances], np.float64).reshape(-1, 4)
    labels = np.asarray([inst.get('bbox_label', 0) for inst in instances], np.int64).reshape(-1)
    ignore = np.asarray([bool(inst.get('ignore_flag', 0)) for inst in instances], bool).reshape(-1)
    if num_classes is not None:
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if len(bad):
            raise UserError(f'dataset sample {index} ({info.get("img_path")}): bbox_label {int(bad[0])} is outside '
                            f'0..{num_classes - 1}')
    return boxes, labels, ignore


def pred_arrays(pred: dict, index: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes P x 4, scores P, labels P)`` of a prediction sample's ``pred_instances``."""
    from ..structures import to_numpy  # deferred: structures load torch (the tools parse their flags first)
    inst = pred.get('pred_instances')
    if inst is None or inst.get('bboxes') is None:
        raise UserError(f'{where}: sample {index} has no pred_instances.bboxes (keys: {sorted(pred)})')
    boxes = to_numpy(inst['bboxes']).astype(np.float64).reshape(-1, 4)
    scores = inst.get('scores')
    scores = np.ones(len(boxes)) if scores is None else to_numpy(scores).astype(np.float64).reshape(-1)
    labels = inst.get('labels')
    labels = np.zeros(len(boxes), np.int64) if labels is None else to_numpy(labels).astype(np.int64).reshape(-1)
    if not len(boxes) == len(scores) == len(labels):
        raise UserError(f'{where}: sample {index} has {len(boxes)} boxes, {len(scores)} scores and {len(labels)} '
                        'labels')
    return boxes, scores, labels


# -- the picture --------------------------------------------------------------------------------------------------
def color_lut(theme: str) -> np.ndarray:
    """256 x 3 uint8 BGR colours of the colour map ``theme`` (a :data:`COLOR_THEMES` name, ``_r`` reversed)."""
    import cv2
    name = theme.lower()
    reverse = name.endswith('_r')
    base = name[:-2] if reverse else name
    code = getattr(cv2, f'COLORMAP_{base.upper()}', None) if base in COLOR_THEMES else None
    if code is None:
        raise UserError(f'--color-theme {theme!r} is not a colour map here; use one of {", ".join(COLOR_THEMES)} '
                        '(NAME_r reverses it)')
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(-1, 1), code).reshape(256, 3)
    return lut[::-1].copy() if reverse else lut


def _ascii(text: str) -> str:
    return str(text).encode('ascii', 'replace').decode()  # OpenCV's Hershey fonts draw ASCII only


def draw_confusion_matrix(matrix: np.ndarray, labels: Sequence[str], *, color_theme: str = 'plasma',
                          title: str = 'Normalized Confusion Matrix') -> np.ndarray:
    """The picture (H x W x 3 uint8 BGR) of ``matrix`` (counts, rows ground truth, columns predictions): each row
    as percentages of its sum (a row without counts shows '-'), cells coloured by ``color_theme``, a colour bar,
    the class names along both axes."""
    import cv2
    font, fs, ft = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1
    labels = [_ascii(s) for s in labels]
    n = len(labels)
    counts = np.asarray(matrix, np.float64)
    sums = counts.sum(axis=1, keepdims=True)
    percent = np.divide(counts * 100, sums, out=np.full_like(counts, np.nan), where=sums > 0)
    lut = color_lut(color_theme)

    def text_size(s: str, scale: float = fs) -> tuple[int, int]:
        (w, h), base = cv2.getTextSize(s, font, scale, ft)
        return w, h + base

    cell = max(34, text_size('100')[0] + 10)
    name_w = max(text_size(s)[0] for s in labels) + 10
    title_h, axis_h, pad = 34, 22, 12
    bar_w, bar_text_w = 16, text_size('100%')[0] + 10
    left = pad + axis_h + name_w
    top = title_h + axis_h + name_w
    width = left + n * cell + pad + bar_w + bar_text_w + pad
    height = top + n * cell + pad
    img = np.full((height, width, 3), 255, np.uint8)

    def put(s: str, x: int, y: int, scale: float = fs, color=(0, 0, 0), thickness: int = ft) -> None:
        cv2.putText(img, s, (int(x), int(y)), font, scale, color, thickness, cv2.LINE_AA)

    def put_vertical(s: str, x: int, y_bottom: int, scale: float = fs) -> None:
        """Text read bottom to top, its baseline's left end at (x + its height, y_bottom)."""
        w, h = text_size(s, scale)
        patch = np.full((h + 2, w + 2, 3), 255, np.uint8)
        cv2.putText(patch, s, (1, h - 2), font, scale, (0, 0, 0), ft, cv2.LINE_AA)
        patch = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0 = max(y_bottom - patch.shape[0], 0)
        x0 = max(int(x), 0)
        ph, pw = min(patch.shape[0], height - y0), min(patch.shape[1], width - x0)
        img[y0:y0 + ph, x0:x0 + pw] = np.minimum(img[y0:y0 + ph, x0:x0 + pw], patch[:ph, :pw])

    tw, th = text_size(_ascii(title), 0.6)
    put(_ascii(title), max((width - tw) // 2, 0), title_h - 10, 0.6, thickness=1)
    grid_w = n * cell
    pw_, _ = text_size('Prediction')
    put('Prediction', left + (grid_w - pw_) // 2, title_h + axis_h - 6)
    gw_, gh_ = text_size('Ground truth')
    put_vertical('Ground truth', pad, top + (grid_w + gw_) // 2)
    for k, name in enumerate(labels):
        w, h = text_size(name)
        put(name, left - w - 6, top + k * cell + (cell + h) // 2 - 2)  # row names, right-aligned
        put_vertical(name, left + k * cell + (cell - h) // 2, top - 6)  # column names, bottom-aligned
    for r in range(n):
        for c in range(n):
            x0, y0 = left + c * cell, top + r * cell
            value = percent[r, c]
            color = (235, 235, 235) if np.isnan(value) else tuple(int(v) for v in lut[int(round(value * 2.55))])
            cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), color, -1)
            luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
            ink = (0, 0, 0) if luminance > 128 else (255, 255, 255)
            text = '-' if np.isnan(value) else f'{int(round(value))}'
            w, h = text_size(text)
            put(text, x0 + (cell - w) // 2, y0 + (cell + h) // 2 - 2, color=ink)
    cv2.rectangle(img, (left - 1, top - 1), (left + grid_w, top + grid_w), (80, 80, 80), 1)
    bx = left + grid_w + pad
    for y in range(grid_w):  # the colour bar: 100 % at the top
        img[top + y, bx:bx + bar_w] = lut[int(round(255 * (1 - y / max(grid_w - 1, 1))))]
    for v in (0, 50, 100):
        y = top + int(round((1 - v / 100) * (grid_w - 1)))
        put(f'{v}%', bx + bar_w + 4, min(max(y + 4, top + 8), top + grid_w))
    return img


# -- the tool -----------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Compute, draw and save the matrix as the parsed ``args`` say; returns the JSON written."""
    from ..fileio.image import imwrite  # deferred: the tools parse their flags before torch loads
    for flag, value in (('--score-thr', args.score_thr), ('--tp-iou-thr', args.tp_iou_thr),
                        ('--nms-iou-thr', args.nms_iou_thr)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise UserError(f'{flag} must be in [0, 1], got {value}')
    color_lut(args.color_theme)  # a wrong name fails before the work
    cfg = read_config(args.config, args.cfg_options)
    predictions = load_predictions(args.prediction_path)
    task = prediction_task(predictions, args.prediction_path)
    if task != 'detection':
        raise UserError(f'{args.prediction_path} holds {task} predictions; the confusion matrix is for detection '
                        '(boxes with class labels)')
    dataset = build_dataset(cfg, 'test')
    check_predictions_fit(predictions, dataset, args.prediction_path, args.config)
    classes = list(dataset.metainfo.get('classes') or [])
    if not classes:
        raise UserError(f'{args.config}: the test dataset names no classes (metainfo classes); the matrix needs them')
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    matrix = confusion_matrix(infos, predictions, len(classes), score_thr=args.score_thr,
                              tp_iou_thr=args.tp_iou_thr, nms_iou_thr=args.nms_iou_thr,
                              where=str(args.prediction_path))
    save_dir = Path(args.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    labels = classes + ['background']
    result = dict(classes=labels, rows='ground truth', columns='prediction', matrix=matrix.tolist(),
                  score_thr=args.score_thr, tp_iou_thr=args.tp_iou_thr, nms_iou_thr=args.nms_iou_thr,
                  config=str(args.config), prediction_path=str(args.prediction_path))
    head = json.dumps({k: v for k, v in result.items() if k != 'matrix'}, indent=1)
    rows = ',\n  '.join(json.dumps(row) for row in result['matrix'])  # one matrix row a line
    (save_dir / 'confusion_matrix.json').write_text(f'{head[:-2]},\n "matrix": [\n  {rows}\n ]\n}}\n')
    picture = draw_confusion_matrix(matrix, labels, color_theme=args.color_theme)
    imwrite(save_dir / 'confusion_matrix.png', picture, 'confusion_matrix')
    print(f'confusion matrix ({len(classes)} classes + background; rows: ground truth, columns: prediction) '
          f'written to {save_dir / "confusion_matrix.png"} and {save_dir / "confusion_matrix.json"}')
    if args.show:
        from ..apis.display import FrameWindow  # deferred: only --show opens a window
        window = FrameWindow('confusion matrix', wait_time=0)
        window.show(picture)
        window.close()
    return result
