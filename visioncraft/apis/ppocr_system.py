"""PP-OCR's end-to-end system (PaddleOCR's ``TextSystem``) on our PP-OCRv4 models: detect text lines, sort them
into reading order, cut each one out upright, optionally turn upside-down lines round, read them in batches.

Every step follows PaddleOCR's inference settings (``tools/infer/utility.py`` defaults), re-implemented here:

1. Detection: the BGR image resized by ``DetResizeForTest`` (long side at most ``det_limit_side_len=960``, sides
   rounded to multiples of 32), the model's normalisation, the DB probability map turned into whole-pixel quads
   by :func:`~visioncraft.tasks.textdet.codecs.ppocr_db.ppocr_db_boxes` (PaddleOCR's ``DBPostProcess``) with the
   detector codec's settings (PaddleOCR's: thresh 0.3, box_thresh 0.6, unclip 1.5, fast score, no dilation);
   each quad ordered clockwise from its top-left corner, clipped to the image, and dropped when a side is 3
   pixels or less.
2. Reading order: by the top-left corner's (y, x); quads whose top-left corners are less than 10 pixels apart
   vertically count as one line and are ordered left to right.
3. Crops: :func:`crop_quad` (the quad's corners onto a ``w x h`` rectangle, w and h its longer opposite sides
   truncated to whole pixels; cubic, border replicated; crops 1.5 times taller than wide turned 90 degrees).
4. Direction (``use_angle_cls``): crops resized to height 48 (width up to 192, zero-padded after normalising),
   classified in batches of ``cls_batch_num`` ordered by aspect ratio; a crop labelled ``'180'`` with a score above
   ``cls_thresh=0.9`` is rotated by 180 degrees.
5. Recognition: crops ordered by aspect ratio, read in batches of ``rec_batch_num=6``; each batch is resized to
   height 48 and padded to the width of its widest crop (at least 320, i.e. PaddleOCR's ``max_wh_ratio``),
   greedy CTC decoding, the score the mean probability of the kept characters; lines scoring below
   ``drop_score=0.5`` are dropped.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.tasks.textdet.codecs.ppocr_db import ppocr_db_boxes
from visioncraft.tasks.textdet.transforms.textdet_transforms import det_resize_hw

from .ppocr_weights import import_ppocr_weights

__all__ = ['OCRLine', 'PPOCRSystem', 'crop_quad', 'order_quad_clockwise', 'sort_reading_order']


@dataclass
class OCRLine:
    """One text line: ``quad`` (4 x 2 float32, clockwise from the top-left, original-image pixels), the detector's
    ``det_score``, the read ``text`` and its ``score``, and the direction classifier's ``angle`` (``'0'`` /
    ``'180'``, None without the classifier) with its ``angle_score``."""

    quad: np.ndarray
    det_score: float
    text: str
    score: float
    angle: str | None = None
    angle_score: float | None = None


def order_quad_clockwise(quad: np.ndarray) -> np.ndarray:
    """The 4 x 2 ``quad`` as top-left, top-right, bottom-right, bottom-left: top-left has the smallest x + y,
    bottom-right the largest; of the other two, top-right has the smaller y - x."""
    pts = np.asarray(quad, np.float32).reshape(4, 2)
    s = pts.sum(1)
    tl, br = int(np.argmin(s)), int(np.argmax(s))
    rest = [i for i in range(4) if i not in (tl, br)]
    if len(rest) != 2:  # degenerate (repeated corners): keep the given order
        return pts
    d = pts[rest, 1] - pts[rest, 0]
    tr, bl = (rest[0], rest[1]) if d[0] <= d[1] else (rest[1], rest[0])
    return pts[[tl, tr, br, bl]]


def sort_reading_order(quads: Sequence[np.ndarray], line_tol: float = 10.0) -> list[int]:
    """Indices of ``quads`` (clockwise 4 x 2) in reading order: by top-left (y, x), then, within a run of quads
    whose top-left corners are less than ``line_tol`` pixels apart vertically, left to right."""
    order = sorted(range(len(quads)), key=lambda i: (float(quads[i][0, 1]), float(quads[i][0, 0])))
    for k in range(1, len(order)):
        j = k
        while j > 0:
            a, b = quads[order[j - 1]][0], quads[order[j]][0]
            if abs(float(b[1] - a[1])) < line_tol and b[0] < a[0]:
                order[j - 1], order[j] = order[j], order[j - 1]
                j -= 1
            else:
                break
    return order


def crop_quad(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The text inside ``quad`` (clockwise 4 x 2 from the top-left, pixels of ``img``) as an upright
    ``h x w`` image, PaddleOCR's ``get_rotate_crop_image``: ``w`` / ``h`` are the longer of the top / bottom and
    left / right sides (truncated), the corners map onto ``(0, 0), (w, 0), (w, h), (0, h)`` (cubic, border
    replicated); a crop at least 1.5 times taller than wide is turned 90 degrees counter-clockwise."""
    q = np.asarray(quad, np.float32).reshape(4, 2)
    w = max(1, int(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3]))))
    h = max(1, int(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    crop = cv2.warpPerspective(img, cv2.getPerspectiveTransform(q, dst), (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(np.rot90(crop)) if h / w >= 1.5 else crop


def _norm_params(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    pre = model.data_preprocessor
    if getattr(pre, 'swap_channels', False):
        raise ValueError('PPOCRSystem: the models read BGR crops as they are; this one swaps channels')
    return pre.mean.cpu(), pre.std.cpu()


def _resize_norm(img: np.ndarray, height: int, max_width: int, pad_width: int, mean, std) -> torch.Tensor:
    """PaddleOCR's ``resize_norm_img``: to ``height`` keeping the aspect ratio (width ``min(ceil(height * w / h),
    max_width)``), normalised, zero-padded on the right to ``pad_width``: 3 x height x pad_width float32."""
    h, w = img.shape[:2]
    new_w = min(max_width, int(math.ceil(height * w / h)))
    resized = cv2.resize(img, (max(1, new_w), height))
    x = (torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1))).float() - mean) / std
    return F.pad(x, (0, pad_width - x.shape[-1]))


class PPOCRSystem:
    """Detect, order, crop, (turn,) read: see the module docstring for each step's settings.

    Args:
        det / rec / cls: built models (e.g. from :func:`~visioncraft.apis.ppocr_weights.import_ppocr_weights`, or
            our configs with trained weights); None: the official PP-OCRv4 mobile det / rec and mobile v2.0 cls
            weights from rapidocr_onnxruntime.
        use_angle_cls: run the direction classifier (PaddleOCR's ``use_angle_cls``; off by default there too).
        device: where the models run.
        det_limit_side_len / det_limit_type: the detector's resize (``'max'``: the long side at most that;
            ``'min'``: the short side at least that).
        rec_batch_num / cls_batch_num: crops per batch; rec_image_shape / cls_image_shape: [C, H, W] inputs.
        cls_thresh: the score a '180' label needs before a crop is turned; drop_score: the lowest kept reading
            score.

    Call it on an H x W x 3 uint8 BGR array; it returns a list of :class:`OCRLine` in reading order.
    :attr:`timings` holds the seconds of the last call per stage.
    """

    def __init__(self, det: nn.Module | None = None, rec: nn.Module | None = None, cls: nn.Module | None = None,
                 *, use_angle_cls: bool = False, device: str | torch.device = 'cpu', det_limit_side_len: int = 960,
                 det_limit_type: str = 'max', rec_batch_num: int = 6, cls_batch_num: int = 6,
                 rec_image_shape: Sequence[int] = (3, 48, 320), cls_image_shape: Sequence[int] = (3, 48, 192),
                 cls_thresh: float = 0.9, drop_score: float = 0.5) -> None:
        self.device = torch.device(device)
        self.det = (det if det is not None else import_ppocr_weights('ppocrv4_mobile_det')[0]).to(self.device).eval()
        self.rec = (rec if rec is not None else import_ppocr_weights('ppocrv4_mobile_rec')[0]).to(self.device).eval()
        self.use_angle_cls = use_angle_cls
        self.cls = None
        if use_angle_cls:
            self.cls = (cls if cls is not None else import_ppocr_weights('ppocr_mobile_v2.0_cls')[0])
            self.cls = self.cls.to(self.device).eval()
        if det_limit_type not in ('max', 'min'):
            raise ValueError(f"PPOCRSystem: det_limit_type must be 'max' or 'min', got {det_limit_type!r}")
        self.det_limit_side_len, self.det_limit_type = int(det_limit_side_len), det_limit_type
        self.rec_batch_num, self.cls_batch_num = int(rec_batch_num), int(cls_batch_num)
        self.rec_image_shape, self.cls_image_shape = tuple(rec_image_shape), tuple(cls_image_shape)
        self.cls_thresh, self.drop_score = float(cls_thresh), float(drop_score)
        self.timings: dict[str, float] = {}

    # -- stages -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def detect(self, img: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        """Quads (clockwise 4 x 2 float32, whole original pixels) and detection scores, in reading order."""
        h, w = img.shape[:2]
        th, tw = det_resize_hw(h, w, limit_side_len=self.det_limit_side_len, limit_type=self.det_limit_type)
        resized = cv2.resize(img, (tw, th))
        data = self.det.data_preprocessor(dict(inputs=[torch.from_numpy(resized.transpose(2, 0, 1).copy())]))
        prob = self.det(data['inputs'].to(self.device), mode='tensor')[0, :th, :tw].float().cpu().numpy()
        codec = self.det.det_head.codec
        boxes, scores = ppocr_db_boxes(prob, (h, w), thresh=codec.thresh, box_thresh=codec.box_thresh,
                                       max_candidates=codec.max_candidates, unclip_ratio=codec.unclip_ratio or 1.5,
                                       use_dilation=codec.use_dilation, score_mode=codec.score_mode)
        quads, kept = [], []
        for box, score in zip(boxes, scores):
            q = order_quad_clockwise(box.astype(np.float32))
            q[:, 0] = q[:, 0].clip(0, w - 1)
            q[:, 1] = q[:, 1].clip(0, h - 1)
            if int(np.linalg.norm(q[0] - q[1])) <= 3 or int(np.linalg.norm(q[0] - q[3])) <= 3:
                continue
            quads.append(q.astype(np.float32))
            kept.append(float(score))
        order = sort_reading_order(quads)
        return [quads[i] for i in order], [kept[i] for i in order]

    @torch.no_grad()
    def classify(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """``(label, score)`` per crop from the direction classifier."""
        _, height, width = self.cls_image_shape
        mean, std = _norm_params(self.cls)
        out: list[tuple[str, float]] = [('0', 0.0)] * len(crops)
        order = np.argsort([c.shape[1] / c.shape[0] for c in crops], kind='stable')
        for b in range(0, len(order), self.cls_batch_num):
            idx = order[b:b + self.cls_batch_num]
            x = torch.stack([_resize_norm(crops[i], height, width, width, mean, std) for i in idx])
            probs = self.cls(x.to(self.device), mode='tensor').cpu()
            for i, p in zip(idx, probs):
                k = int(p.argmax())
                out[i] = (self.cls.labels[k], float(p[k]))
        return out

    @torch.no_grad()
    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """``(text, score)`` per crop."""
        _, height, width = self.rec_image_shape
        mean, std = _norm_params(self.rec)
        codec = self.rec.decoder.codec
        ratios = [c.shape[1] / c.shape[0] for c in crops]
        out: list[tuple[str, float]] = [('', 0.0)] * len(crops)
        order = np.argsort(ratios, kind='stable')
        for b in range(0, len(order), self.rec_batch_num):
            idx = order[b:b + self.rec_batch_num]
            max_ratio = max([width / height] + [ratios[i] for i in idx])
            batch_w = int(height * max_ratio)
            x = torch.stack([_resize_norm(crops[i], height, batch_w, batch_w, mean, std) for i in idx])
            probs = self.rec(x.to(self.device), mode='tensor').cpu()
            for i, (text, scores) in zip(idx, codec.decode(probs, [probs.shape[1]] * len(idx))):
                out[i] = (text, float(np.mean(scores)) if len(scores) else 0.0)
        return out

    def __call__(self, img: np.ndarray) -> list[OCRLine]:
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'PPOCRSystem: expected an H x W x 3 BGR array, got {getattr(img, "shape", type(img))}')
        t0 = time.perf_counter()
        quads, det_scores = self.detect(img)
        t1 = time.perf_counter()
        crops = [crop_quad(img, q) for q in quads]
        angles: list[tuple[str | None, float | None]] = [(None, None)] * len(crops)
        if self.cls is not None and crops:
            angles = self.classify(crops)
            crops = [cv2.rotate(c, cv2.ROTATE_180) if a == '180' and s > self.cls_thresh else c
                     for c, (a, s) in zip(crops, angles)]
        t2 = time.perf_counter()
        reads = self.recognize(crops) if crops else []
        t3 = time.perf_counter()
        self.timings = dict(det=t1 - t0, crop_cls=t2 - t1, rec=t3 - t2)
        return [OCRLine(q, d, text, score, a, s) for q, d, (text, score), (a, s)
                in zip(quads, det_scores, reads, angles) if score >= self.drop_score]
