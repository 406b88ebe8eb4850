"""Text-detection transforms: annotation loading, packing, rotation, text-aware crop, side-limit resize,
colour jitter.

They work on the text-detection sample keys (see docs/data_contract.md): ``img`` (H x W x 3 uint8 BGR),
``gt_polygons`` (list of N float32 ``[x0, y0, x1, y1, ...]``, absolute pixels), ``gt_ignore_flags`` (bool N),
``gt_texts`` (list of N str), ``gt_bboxes`` (float32 N x 4 xyxy) and ``gt_bboxes_labels`` (int64 N). The shared
Resize / RandomFlip / Pad (visioncraft.data) move the polygons too. When a transform here drops instances, every
per-instance key is indexed together, so flags and texts stay aligned.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from visioncraft.data import BaseTransform
from visioncraft.data.geometric import _index_instances, _resize_geometry
from visioncraft.data.loading import pack_image
from visioncraft.registry import TASK_UTILS, TRANSFORMS
from visioncraft.structures import BaseDataElement, InstanceData

__all__ = ['LoadOCRAnnotations', 'PackTextDetInputs', 'RandomRotate', 'TextDetRandomCrop', 'DetResizeForTest',
           'ColorJitter', 'polygons_to_bboxes', 'clip_polygons']


def polygons_to_bboxes(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """float32 N x 4 xyxy bounding boxes of N flat polygons."""
    if not len(polygons):
        return np.zeros((0, 4), dtype=np.float32)
    out = []
    for p in polygons:
        xy = np.asarray(p, dtype=np.float32).reshape(-1, 2)
        out.append([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])
    return np.asarray(out, dtype=np.float32)


def clip_polygons(results: dict, min_area: float = 1.0) -> dict:
    """Clip ``gt_polygons`` to the image (shapely intersection; the largest piece is kept), drop those whose
    clipped area is below ``min_area`` pixels (with their flags, texts, labels), and refresh ``gt_bboxes``."""
    from shapely.geometry import Polygon, box
    polys = results.get('gt_polygons')
    if polys is None:
        return results
    h, w = results['img'].shape[:2]
    frame = box(0, 0, w, h)
    keep, new = [], []
    for i, p in enumerate(polys):
        xy = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        if xy.min() >= 0 and xy[:, 0].max() <= w and xy[:, 1].max() <= h:
            keep.append(i)
            new.append(np.asarray(p, dtype=np.float32))
            continue
        shape = Polygon(xy).buffer(0) if len(xy) >= 3 else Polygon()
        piece = shape.intersection(frame)
        if piece.geom_type != 'Polygon':
            parts = [g for g in getattr(piece, 'geoms', []) if g.geom_type == 'Polygon']
            piece = max(parts, key=lambda g: g.area) if parts else Polygon()
        if piece.is_empty or piece.area < min_area:
            continue
        coords = np.asarray(piece.exterior.coords, dtype=np.float32)[:-1]
        keep.append(i)
        new.append(coords.reshape(-1))
    idx = np.asarray(keep, dtype=np.int64)
    _index_instances(results, idx)
    results['gt_polygons'] = new
    if results.get('gt_bboxes') is not None:
        results['gt_bboxes'] = polygons_to_bboxes(new)
    return results


@TRANSFORMS.register_module()
class LoadOCRAnnotations(BaseTransform):
    """Turn the raw ``instances`` of a text dataset entry into the sample keys.

    Always sets ``gt_ignore_flags`` (bool N, from each instance's ``ignore``). ``with_polygon``:
    ``gt_polygons`` (list of N float32 flat arrays); ``with_bbox``: ``gt_bboxes`` (float32 N x 4 xyxy, the
    instance's ``bbox`` or its polygon's bounding box); ``with_label``: ``gt_bboxes_labels`` (int64 N);
    ``with_text``: ``gt_texts`` (list of N str). A text-recognition sample (instances holding ``text`` but no
    ``polygon``) with ``with_text=True`` gets only ``gt_texts`` and ``gt_ignore_flags``.
    """

    def __init__(self, with_polygon: bool = True, with_bbox: bool = False, with_label: bool = False,
                 with_text: bool = False) -> None:
        self.with_polygon, self.with_bbox = with_polygon, with_bbox
        self.with_label, self.with_text = with_label, with_text

    def transform(self, results: dict) -> dict:
        instances = results.get('instances')
        if instances is None:
            raise KeyError(f'LoadOCRAnnotations: sample {results.get("img_path", "?")} has no "instances" key')
        results['gt_ignore_flags'] = np.array([bool(i.get('ignore', False)) for i in instances], dtype=np.bool_)
        if self.with_text and instances and all('polygon' not in i for i in instances):
            # a text-recognition sample (MMOCR textrecog layout: instances [{'text': ...}] without geometry):
            # only the texts exist, so with_polygon / with_bbox / with_label have nothing to load
            results['gt_texts'] = [str(i.get('text', '')) for i in instances]
            return results
        polys = [np.asarray(i['polygon'], dtype=np.float32) for i in instances]
        for k, p in enumerate(polys):
            if p.ndim != 1 or len(p) < 6 or len(p) % 2:
                raise ValueError(f'LoadOCRAnnotations: {results.get("img_path", "?")} instance {k}: polygon must '
                                 f'be a flat list of >= 3 (x, y) points, got shape {p.shape}')
        if self.with_polygon:
            results['gt_polygons'] = polys
        if self.with_bbox:
            boxes = [i['bbox'] if i.get('bbox') is not None else polygons_to_bboxes([p])[0]
                     for i, p in zip(instances, polys)]
            results['gt_bboxes'] = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if self.with_label:
            results['gt_bboxes_labels'] = np.array([int(i.get('bbox_label', 0)) for i in instances], dtype=np.int64)
        if self.with_text:
            results['gt_texts'] = [str(i.get('text', '')) for i in instances]
        return results


@TRANSFORMS.register_module()
class PackTextDetInputs(BaseTransform):
    """Make ``dict(inputs=C x H x W uint8 tensor (BGR), data_samples=DataSample)`` from a text sample.

    ``gt_instances`` holds ALL instances, do-not-care ones included (flag ``ignored``, bool N tensor):
    ``polygons`` (list of N float32 numpy arrays, pixels of the packed image), ``bboxes`` (float32 N x 4 xyxy
    tensor; from the polygons when the sample has none), ``labels`` (int64 N tensor, zeros when absent),
    ``texts`` (list of N str, empty strings when absent).
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape', 'scale_factor',
                                                   'flip', 'flip_direction', 'pad_shape', 'sample_idx')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs, sample = pack_image(results, self.meta_keys)
        polys = [np.asarray(p, dtype=np.float32) for p in (results.get('gt_polygons') or [])]
        n = len(polys)
        boxes = results.get('gt_bboxes')
        boxes = polygons_to_bboxes(polys) if boxes is None else np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        labels = results.get('gt_bboxes_labels')
        labels = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
        ignored = results.get('gt_ignore_flags')
        ignored = np.zeros(n, dtype=np.bool_) if ignored is None else np.asarray(ignored, dtype=np.bool_)
        texts = results.get('gt_texts')
        texts = [''] * n if texts is None else [str(t) for t in texts]
        for key, value in (('gt_bboxes', boxes), ('gt_bboxes_labels', labels), ('gt_ignore_flags', ignored),
                           ('gt_texts', texts)):
            if len(value) != n:
                raise ValueError(f'PackTextDetInputs: {key} has {len(value)} entries but gt_polygons has {n} '
                                 f'({results.get("img_path", "?")})')
        sample.gt_instances = InstanceData(polygons=polys, bboxes=torch.from_numpy(boxes),
                                           labels=torch.from_numpy(labels), ignored=torch.from_numpy(ignored),
                                           texts=texts)
        return dict(inputs=inputs, data_samples=sample)


@TRANSFORMS.register_module()
class RandomRotate(BaseTransform):
    """Rotate the image and its polygons by an angle drawn from ``[-max_angle, max_angle]`` degrees
    (counter-clockwise positive, about the image centre).

    Args:
        max_angle: the largest rotation in degrees.
        use_canvas: expand the canvas so the whole rotated image fits (no corner is lost); otherwise the image
            keeps its size and polygons leaving it are clipped (dropped when nothing is left).
        pad_value: BGR fill of the uncovered area.
        prob: probability of rotating at all.
    ``gt_bboxes`` become the rotated polygons' bounding boxes. Sets ``rotate_angle``.
    """

    def __init__(self, max_angle: float = 10, use_canvas: bool = False, pad_value: Sequence[int] = (0, 0, 0),
                 prob: float = 1.0) -> None:
        if max_angle < 0:
            raise ValueError(f'RandomRotate: max_angle must be >= 0, got {max_angle}')
        self.max_angle, self.use_canvas = float(max_angle), use_canvas
        self.pad_value, self.prob = tuple(int(v) for v in pad_value), float(prob)

    def transform(self, results: dict) -> dict:
        import cv2
        if np.random.random_sample() >= self.prob:
            results['rotate_angle'] = 0.0
            return results
        angle = float(np.random.uniform(-self.max_angle, self.max_angle))
        img = results['img']
        h, w = img.shape[:2]
        mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        new_w, new_h = w, h
        if self.use_canvas:
            cos, sin = abs(mat[0, 0]), abs(mat[0, 1])
            new_w, new_h = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
            mat[0, 2] += (new_w - w) / 2
            mat[1, 2] += (new_h - h) / 2
        results['img'] = cv2.warpAffine(img, mat, (new_w, new_h), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=self.pad_value)
        results['img_shape'] = (new_h, new_w)
        results['rotate_angle'] = angle
        if results.get('gt_polygons') is not None:
            polys = []
            for p in results['gt_polygons']:
                xy = np.asarray(p, dtype=np.float64).reshape(-1, 2)
                polys.append((xy @ mat[:, :2].T + mat[:, 2]).astype(np.float32).reshape(-1))
            results['gt_polygons'] = polys
            if results.get('gt_bboxes') is not None:
                results['gt_bboxes'] = polygons_to_bboxes(polys)
            clip_polygons(results)
        return results


@TRANSFORMS.register_module()
class TextDetRandomCrop(BaseTransform):
    """Text-aware random crop: the crop's edges lie in rows / columns that no text polygon covers, so no text
    instance is ever cut (PaddleOCR's EastRandomCropData, MMOCR's TextDetRandomCrop idea).

    Args:
        target_size: (w, h) of the output; the crop is scaled to fit inside it (aspect ratio kept) and padded
            with zeros at the bottom / right. ``None`` keeps the crop's size.
        max_tries: crops drawn before giving up (then the whole image is used).
        min_crop_side_ratio: each crop side is at least this share of the image side.
        require_text: a crop must hold at least one non-ignored instance (when the image has any).
    Instances outside the crop are dropped with their flags and texts; ``gt_bboxes`` are recomputed.
    """

    def __init__(self, target_size: Sequence[int] | None = (640, 640), max_tries: int = 50,
                 min_crop_side_ratio: float = 0.1, require_text: bool = True) -> None:
        self.target_size = None if target_size is None else (int(target_size[0]), int(target_size[1]))
        self.max_tries, self.min_crop_side_ratio = int(max_tries), float(min_crop_side_ratio)
        self.require_text = require_text

    def _crop_area(self, results: dict) -> tuple[int, int, int, int]:
        h, w = results['img'].shape[:2]
        polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in results.get('gt_polygons') or []]
        ignored = np.asarray(results.get('gt_ignore_flags', np.zeros(len(polys), bool)), dtype=bool)
        if not polys:
            return 0, 0, w, h
        w_used = np.zeros(w + 1, dtype=bool)
        h_used = np.zeros(h + 1, dtype=bool)
        for xy in polys:
            x0, x1 = np.clip([math.floor(xy[:, 0].min()), math.ceil(xy[:, 0].max())], 0, w)
            y0, y1 = np.clip([math.floor(xy[:, 1].min()), math.ceil(xy[:, 1].max())], 0, h)
            w_used[x0 + 1:x1] = True  # boundary lines x0 and x1 themselves cut nothing
            h_used[y0 + 1:y1] = True
        w_free, h_free = np.nonzero(~w_used)[0], np.nonzero(~h_used)[0]
        if len(w_free) < 2 or len(h_free) < 2:
            return 0, 0, w, h
        for _ in range(self.max_tries):
            xs = np.sort(np.random.choice(w_free, 2))
            ys = np.sort(np.random.choice(h_free, 2))
            x0, x1, y0, y1 = int(xs[0]), int(xs[1]), int(ys[0]), int(ys[1])
            if x1 - x0 < self.min_crop_side_ratio * w or y1 - y0 < self.min_crop_side_ratio * h:
                continue
            inside = [bool(xy[:, 0].min() >= x0 and xy[:, 0].max() <= x1 and xy[:, 1].min() >= y0
                           and xy[:, 1].max() <= y1) for xy in polys]
            wanted = [i for i, ok in enumerate(inside) if ok and not ignored[i]]
            if not self.require_text or wanted or ignored.all():
                return x0, y0, x1, y1
        return 0, 0, w, h

    def transform(self, results: dict) -> dict:
        x0, y0, x1, y1 = self._crop_area(results)
        results['img'] = np.ascontiguousarray(results['img'][y0:y1, x0:x1])
        results['img_shape'] = (y1 - y0, x1 - x0)
        if results.get('gt_polygons') is not None:
            polys, keep = [], []
            for i, p in enumerate(results['gt_polygons']):
                xy = np.asarray(p, dtype=np.float32).reshape(-1, 2) - np.array([x0, y0], dtype=np.float32)
                if xy.min() >= 0 and xy[:, 0].max() <= x1 - x0 and xy[:, 1].max() <= y1 - y0:
                    keep.append(i)
                    polys.append(xy.reshape(-1))
            _index_instances(results, np.asarray(keep, dtype=np.int64))
            results['gt_polygons'] = polys
            if results.get('gt_bboxes') is not None:
                results['gt_bboxes'] = polygons_to_bboxes(polys)
        if self.target_size is not None:
            tw, th = self.target_size
            ch, cw = results['img'].shape[:2]
            s = min(tw / cw, th / ch)
            nw, nh = max(1, min(tw, int(round(cw * s)))), max(1, min(th, int(round(ch * s))))
            _resize_geometry(results, nw, nh, clip_object_border=False)
            canvas = np.zeros((th, tw) + results['img'].shape[2:], dtype=results['img'].dtype)
            canvas[:nh, :nw] = results['img']
            results['img'] = canvas
            results['img_shape'] = (th, tw)
            if results.get('gt_polygons') is not None and results.get('gt_bboxes') is not None:
                results['gt_bboxes'] = polygons_to_bboxes(results['gt_polygons'])
        return results


@TRANSFORMS.register_module()
class DetResizeForTest(BaseTransform):
    """PaddleOCR's test-time resize, in one of its three modes (sizes from :func:`det_resize_hw`):

    * side limit (``limit_side_len`` / ``limit_type``, PaddleOCR's ``det_limit_side_len`` /
      ``det_limit_type``): ``'max'`` shrinks so the longer side is at most ``limit_side_len`` (never enlarges),
      ``'min'`` enlarges so the shorter side is at least ``limit_side_len`` (never shrinks), ``'resize_long'``
      scales the longer side to ``limit_side_len``; then each side is rounded to the nearest multiple of 32
      (at least 32). ``max_side_limit`` (PaddleOCR 3: 4000) caps the longer side before the rounding.
    * ``image_shape=(h, w)``: exactly h x w; with ``keep_ratio`` the width follows the aspect ratio, rounded
      up to a multiple of 32.
    * ``resize_long=L``: the longer side scaled to L, then both sides rounded UP to multiples of 128.

    The aspect ratio may change slightly; ``scale_factor`` (w, h) records the exact per-axis factors, and
    polygons / boxes move with the image.
    """

    def __init__(self, limit_side_len: int = 960, limit_type: str = 'max', *,
                 image_shape: Sequence[int] | None = None, keep_ratio: bool = False,
                 resize_long: int | None = None, max_side_limit: int | None = None) -> None:
        if limit_type not in ('max', 'min', 'resize_long'):
            raise ValueError(f"DetResizeForTest: limit_type must be 'max', 'min' or 'resize_long', got "
                             f"{limit_type!r}")
        if limit_side_len <= 0:
            raise ValueError(f'DetResizeForTest: limit_side_len must be > 0, got {limit_side_len}')
        if image_shape is not None and resize_long is not None:
            raise ValueError('DetResizeForTest: give image_shape or resize_long, not both')
        if image_shape is not None and (len(image_shape) != 2 or min(image_shape) <= 0):
            raise ValueError(f'DetResizeForTest: image_shape must be a positive (h, w), got {image_shape!r}')
        if resize_long is not None and resize_long <= 0:
            raise ValueError(f'DetResizeForTest: resize_long must be > 0, got {resize_long}')
        self.limit_side_len, self.limit_type = int(limit_side_len), limit_type
        self.image_shape = None if image_shape is None else (int(image_shape[0]), int(image_shape[1]))
        self.keep_ratio = bool(keep_ratio)
        self.resize_long = None if resize_long is None else int(resize_long)
        self.max_side_limit = None if max_side_limit is None else int(max_side_limit)

    def target_hw(self, h: int, w: int) -> tuple[int, int]:
        """The (h, w) an h x w image is resized to."""
        return det_resize_hw(h, w, limit_side_len=self.limit_side_len, limit_type=self.limit_type,
                             image_shape=self.image_shape, keep_ratio=self.keep_ratio,
                             resize_long=self.resize_long, max_side_limit=self.max_side_limit)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        nh, nw = self.target_hw(h, w)
        _resize_geometry(results, nw, nh, clip_object_border=True)
        return results


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """torchvision-style colour jitter on an H x W x 3 uint8 BGR image: brightness, contrast and saturation
    factors drawn from ``[max(0, 1 - v), 1 + v]``, hue shift from ``[-hue, hue]`` (a share of the full circle,
    <= 0.5), applied in a random order. MMOCR's DBNet uses ``brightness=32 / 255, saturation=0.5``.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
                 hue: float = 0.0) -> None:
        for name, v in (('brightness', brightness), ('contrast', contrast), ('saturation', saturation)):
            if v < 0:
                raise ValueError(f'ColorJitter: {name} must be >= 0, got {v}')
        if not 0 <= hue <= 0.5:
            raise ValueError(f'ColorJitter: hue must be in [0, 0.5], got {hue}')
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def transform(self, results: dict) -> dict:
        import cv2
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'ColorJitter needs an H x W x 3 BGR image, got shape {img.shape}')
        out = img.astype(np.float32)
        for op in np.random.permutation(4):
            if op == 0 and self.brightness:
                out = out * np.random.uniform(max(0, 1 - self.brightness), 1 + self.brightness)
            elif op == 1 and self.contrast:
                mean = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).mean()
                f = np.random.uniform(max(0, 1 - self.contrast), 1 + self.contrast)
                out = out * f + mean * (1 - f)
            elif op == 2 and self.saturation:
                gray = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
                f = np.random.uniform(max(0, 1 - self.saturation), 1 + self.saturation)
                out = out * f + gray[..., None] * (1 - f)
            elif op == 3 and self.hue:
                hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.float32) / 255, cv2.COLOR_BGR2HSV)
                hsv[..., 0] = (hsv[..., 0] + 360 * np.random.uniform(-self.hue, self.hue)) % 360
                out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255
            out = np.clip(out, 0, 255)
        results['img'] = np.rint(out).astype(np.uint8) if img.dtype == np.uint8 else out
        return results


@TRANSFORMS.register_module()
class GenerateDBTargets(BaseTransform):
    """Make DBNet's training targets in the data pipeline (so in the DataLoader workers, in parallel with the
    model) instead of in :meth:`DBHead.loss` on the main process.

    Put it AFTER ``PackTextDetInputs``: it encodes exactly what the head would, the packed
    ``gt_instances.polygons`` / ``ignored`` (pixels of the packed ``inputs``), with a :class:`DBCodec` built
    from ``codec``, which must be the head's codec config (one ``db_codec`` dict used in both places; see
    ``configs/quickstart/textdet_synth.py``). It sets ``data_samples.gt_db_targets``, a BaseDataElement with
    metainfo ``codec_fingerprint`` (:meth:`DBCodec.target_fingerprint`) and data fields ``shrink_map``,
    ``shrink_mask``, ``thr_mask`` (uint8 H' x W' tensors, 0 / 1) and ``thr_map`` (float32 H' x W'), where
    H' x W' covers the image and every pixel the polygons' targets reach (:meth:`DBCodec.target_extent`; it can
    exceed the image when a text's dilated border crosses its bottom / right edge). The head crops or pads
    them to the padded batch shape with the background values, which equals encoding at that shape, and
    raises when the fingerprint differs from its own codec's.

    Args:
        codec: the :class:`DBCodec` config (only its encode settings matter here).
    """

    def __init__(self, codec: dict | None = None) -> None:
        self.codec_cfg = dict(codec or dict(type='DBCodec'))
        self.codec = TASK_UTILS.build(self.codec_cfg)
        if not hasattr(self.codec, 'target_fingerprint'):
            raise TypeError(f'GenerateDBTargets: codec {self.codec_cfg.get("type")!r} has no target_fingerprint; '
                            'it needs a DBCodec')

    def transform(self, results: dict) -> dict:
        sample = results.get('data_samples') if isinstance(results, dict) else None
        if sample is None or 'inputs' not in results:
            raise KeyError('GenerateDBTargets: put it after PackTextDetInputs (it needs the packed "inputs" and '
                           f'"data_samples"), got keys {sorted(results) if isinstance(results, dict) else results}')
        if 'gt_instances' not in sample:
            raise KeyError(f'GenerateDBTargets: {sample.metainfo.get("img_path", "?")}: the packed sample has no '
                           'gt_instances (LoadOCRAnnotations missing from the pipeline?)')
        gt = sample.gt_instances
        polys = list(gt.polygons) if 'polygons' in gt else []
        ignored = gt.ignored.cpu().numpy() if 'ignored' in gt else None
        h, w = (int(v) for v in results['inputs'].shape[-2:])
        eh, ew = self.codec.target_extent(polys)
        maps = self.codec.encode(polys, ignored, (max(h, eh), max(w, ew)))
        sample.gt_db_targets = BaseDataElement(
            metainfo=dict(codec_fingerprint=self.codec.target_fingerprint()),
            **{k: torch.from_numpy(v if k == 'thr_map' else v.astype(np.uint8)) for k, v in maps.items()})
        return results


__all__ += ['GenerateDBTargets']


def det_resize_hw(h: int, w: int, *, limit_side_len: int = 960, limit_type: str = 'max',
                  image_shape: Sequence[int] | None = None, keep_ratio: bool = False,
                  resize_long: int | None = None, max_side_limit: int | None = None) -> tuple[int, int]:
    """The (h, w) PaddleOCR's ``DetResizeForTest`` resizes an h x w image to (see :class:`DetResizeForTest`
    for the modes; ``image_shape`` wins over ``resize_long``, which wins over the side limit)."""
    if image_shape is not None:
        th, tw = int(image_shape[0]), int(image_shape[1])
        if keep_ratio:
            tw = int(math.ceil(w * th / h / 32) * 32)
        return th, tw
    if resize_long is not None:
        ratio = resize_long / max(h, w)
        th, tw = int(h * ratio), int(w * ratio)
        return (th + 127) // 128 * 128, (tw + 127) // 128 * 128
    if limit_type == 'max':
        ratio = limit_side_len / max(h, w) if max(h, w) > limit_side_len else 1.0
    elif limit_type == 'min':
        ratio = limit_side_len / min(h, w) if min(h, w) < limit_side_len else 1.0
    else:  # 'resize_long'
        ratio = limit_side_len / max(h, w)
    th, tw = int(h * ratio), int(w * ratio)
    if max_side_limit is not None and max(th, tw) > max_side_limit:
        cap = max_side_limit / max(th, tw)
        th, tw = int(th * cap), int(tw * cap)
    return max(32, int(round(th / 32) * 32)), max(32, int(round(tw / 32) * 32))


@TRANSFORMS.register_module()
class RandomScale(BaseTransform):
    """Resize the image (and its polygons / boxes) by a factor drawn uniformly from ``ratio_range``, relative
    to its current size, the same factor for both sides (imgaug's ``Resize(size=(a, b))``, PaddleOCR's
    ``IaaAugment`` ``{type: Resize, args: {size: [a, b]}}``). Updates ``img_shape`` and ``scale_factor``.
    """

    def __init__(self, ratio_range: Sequence[float] = (0.5, 3.0)) -> None:
        if len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f'RandomScale: ratio_range must be (min, max) with 0 < min <= max, got {ratio_range!r}')
        self.ratio_range = (float(ratio_range[0]), float(ratio_range[1]))

    def transform(self, results: dict) -> dict:
        ratio = float(np.random.uniform(*self.ratio_range))
        h, w = results['img'].shape[:2]
        _resize_geometry(results, max(1, int(round(w * ratio))), max(1, int(round(h * ratio))),
                         clip_object_border=False)
        return results


__all__ += ['det_resize_hw', 'RandomScale']


@TRANSFORMS.register_module(['mmocr.RandomCrop'])
class MMOCRRandomCrop(TextDetRandomCrop):
    """MMOCR 1.x's text-detection ``RandomCrop(min_side_ratio=0.4)`` (the plain name ``RandomCrop`` under
    ``default_scope='mmocr'``): a random crop, each side at least ``min_side_ratio`` of the image's, that keeps at
    least one text instance whole; the image keeps the crop's size (the pipeline's ``Resize`` / ``Pad`` follow).

    One difference from MMOCR, by design: the crop's edges avoid text (:class:`TextDetRandomCrop`), so no polygon
    is cut; MMOCR may cut polygons at the crop border and clip them.
    """

    def __init__(self, min_side_ratio: float = 0.4) -> None:
        if not 0 <= float(min_side_ratio) <= 1:
            raise ValueError(f'RandomCrop (MMOCR): min_side_ratio must be in [0, 1], got {min_side_ratio}')
        super().__init__(target_size=None, min_crop_side_ratio=float(min_side_ratio), require_text=True)
__all__ += ['MMOCRRandomCrop']
