"""End-to-end OCR: detect text regions, cut each out (perspective-rectified), read the crops in batches; on
:class:`~visioncraft.apis.base_inferencer.BaseInferencer`, which reads the inputs and writes the outputs.

:class:`OCRInferencer` takes a text detector and a text recogniser, each either a config file with its
checkpoint or a directory written by ``visioncraft export`` (the runners of :mod:`.ocr`), or a named system
(``'PP-OCRv4'``, the default: PaddleOCR's end-to-end system, :class:`~visioncraft.apis.PPOCRSystem`, on the
official weights, :mod:`.ppocr_models`).
:func:`~visioncraft.apis.evaluate_ocr` (:mod:`.ocr_evaluation`) scores it on a text detection dataset with
transcriptions.

Results, per image, a list (one dict per detected region, in the detector's order)::

    {'polygon': [x0, y0, x1, y1, ...],   # float, ORIGINAL image pixels (pixel centres at integers)
     'det_score': float,                 # the detector's score of the region
     'text': str,                        # what the recogniser read ('' when nothing)
     'rec_score': float}                 # mean of its character scores (0.0 for '')

A named system gives its lines in reading order, only those read with a score of at least 0.5 (PaddleOCR's
``drop_score``), polygons the whole-pixel quads clockwise from the top-left, and with ``cls=True`` also
``'angle'`` (``'0'`` / ``'180'``) and ``'angle_score'``.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visioncraft.fileio.image import ImageInput
from visioncraft.tasks.textrecog.utils import crop_text_region, expand_text_quad
from visioncraft.visualization import draw_polygons

from .base_inferencer import BaseInferencer, InputItem
from .inputs import image_items, input_kind, load_image
from .ocr import OCR_STAGES, load_text_model
from .ppocr_models import PPOCRRunner, resolve_named_models
from .writers import unique_names, write_json, write_picture

__all__ = ['OCRInferencer', 'draw_ocr']


def draw_ocr(img: np.ndarray, results: Sequence[dict]) -> np.ndarray:
    """The image with the polygons (green) next to a white panel with the same polygons and the texts written
    in them (PaddleOCR's layout). H x 2W x 3 uint8 BGR. OpenCV's Hershey fonts draw ASCII only: other characters
    are shown as ``?``."""
    import cv2
    left = img.copy()
    right = np.full_like(img, 255)
    for r in results:
        pts = np.round(np.asarray(r['polygon'], np.float64).reshape(-1, 2)).astype(np.int32)
        draw_polygons(left, [pts], (0, 200, 0), 2)
        draw_polygons(right, [pts], (0, 160, 0), 1)
        text = ''.join(c if 32 <= ord(c) < 127 else '?' for c in r.get('text', ''))
        if not text:
            continue
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        height = max(8, int(y1 - y0))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
        scale = max(0.3, min(height * 0.7 / max(th, 1), max(1, int(x1 - x0)) / max(tw, 1)))
        cv2.putText(right, text, (int(x0), int(y0 + (y1 - y0) / 2 + th * scale / 2)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.hstack([left, right])


def _json_name(name: str) -> str:
    return f'{Path(name).stem}.json'


def _picture_name(name: str) -> str:
    return f'{Path(name).stem}_ocr.jpg'


def _document(img: np.ndarray, path: str | None, results: list[dict]) -> dict[str, Any]:
    return dict(img_path=path, height=int(img.shape[0]), width=int(img.shape[1]), results=results)


class OCRInferencer(BaseInferencer):
    """Detect, crop and read text in images.

    Args:
        det: a text-detection config file (with ``det_weights``), a textdet model name of the index
            (``'dbnet_resnet18'``; its weights download on first use without ``det_weights``), a directory written
            by ``visioncraft export``, or a named system (``'PP-OCRv4'``; see :mod:`.ppocr_models`; the index's
            ``ppocrv4_mobile_det`` with ``ppocrv4_mobile_rec`` is that system too). None for both ``det`` and
            ``rec``: the named ``'PP-OCRv4'``; None for one: the other's name.
        rec: a text-recognition config file (with ``rec_weights``), a textrecog model name of the index
            (``'crnn'``), an exported recogniser directory, or a system name.
        det_weights / rec_weights: checkpoints for config files (must be None for exported directories and names).
        device: ``None`` / ``'auto'`` (CUDA when available, else the CPU), ``'cpu'`` or ``'cuda[:N]'``.
        cls: named systems only: run PaddleOCR's text-direction classifier (``use_angle_cls``), which turns
            upside-down lines round.
        cache_dir: named systems only: where the converted official weights are cached (default
            ``~/.cache/visioncraft``).
        batch_size: crops per recognition batch (None: 8; 6, PaddleOCR's ``rec_batch_num``, for a named system). The crops of all images of one call are sorted by their
            aspect ratio (width / height, which sets their width after the resize to the model's height) and
            cut into batches, so a batch holds crops of similar widths and little padding. NOTE: a recogniser
            whose test pipeline does not pad every crop to one width (``PadToWidth``) and that has a
            bidirectional LSTM sees the right padding of its batch in the backward direction, so its reading of
            a crop can depend on the crops batched with it (the quickstart pads to 128: it does not).
        backend: ``'onnxruntime'`` or ``'torchscript'``, for exported directories.
        rotate_tall / tall_ratio: passed to :func:`~visioncraft.tasks.textrecog.utils.crop_text_region`.
        crop_margin: grow each region's quad by this share of its height on every side before cutting it out
            (:func:`expand_text_quad`; 0 = the detector's polygon exactly). Recognisers trained on word images with
            some background around the ink (the quickstart's) read tight crops worse: on the quickstart scenes'
            ground-truth boxes its word accuracy went from 0.38 (margin 0) to 0.59 (0.1) and 0.61 (0.2).
        num_threads: onnxruntime's intra-op threads for exported directories (default: onnxruntime's).
        show_progress: a progress bar (stderr) over the images.

    ``inferencer(img)``: ``img`` is an image path, an ``http(s)://`` URL or an H x W x 3 uint8 BGR array, or a list
    of them (or a folder / glob pattern). Returns the list of region dicts (see the module docstring) for one
    image, a list of such lists for several. With ``out_dir`` it also writes, per image, ``<name>.json``
    (``{"img_path", "height", "width", "results": [...]}``) and (``draw=True``) ``<name>_ocr.jpg``
    (:func:`draw_ocr`). :attr:`timings` accumulates the seconds spent in each of :data:`OCR_STAGES` (a config
    detector runs its network and its head's decoding in one ``model(..., mode='predict')`` call: both count as
    ``det_model``, and ``det_post`` stays 0; an exported detector splits them).
    """

    who = 'OCRInferencer'
    pred_subdir = ''
    vis_subdir = ''
    array_name = 'img_{}'

    def __init__(self, det=None, rec=None, det_weights=None, rec_weights=None, device: str | None = None,
                 batch_size: int | None = None, *, backend: str = 'onnxruntime', rotate_tall: bool = True,
                 tall_ratio: float = 1.5, num_threads: int | None = None, crop_margin: float = 0.0,
                 show_progress: bool = False, cls: bool = False, cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__(device, show_progress)
        system = resolve_named_models(det, rec, det_weights, rec_weights)  # None: configs / exported directories
        if batch_size is None:
            batch_size = 6 if system else 8
        if int(batch_size) < 1:
            raise ValueError(f'OCRInferencer: batch_size must be >= 1, got {batch_size}')
        if not 0 <= float(crop_margin) <= 2:
            raise ValueError(f'OCRInferencer: crop_margin must be in [0, 2] (a share of the text height), got '
                             f'{crop_margin}')
        #: the named system's runner (PaddleOCR's pipeline end to end), or None
        self.ppocr: PPOCRRunner | None = None
        if system is not None:
            if crop_margin:
                raise ValueError(f'--crop-margin: the named system {system} cuts its lines out as PaddleOCR does '
                                 '(no margin)')
            self.ppocr = PPOCRRunner(system, use_angle_cls=cls, device=self.device, cache_dir=cache_dir,
                                     rec_batch_num=int(batch_size))
            self.detector, self.recognizer = None, self.ppocr
        else:
            if cls:
                raise ValueError('--cls runs PaddleOCR\'s direction classifier, which comes with the named models '
                                 '(--det PP-OCRv4 --rec PP-OCRv4 --cls)')
            self.detector = load_text_model(det, det_weights, 'det', self.device, backend, num_threads)
            self.recognizer = load_text_model(rec, rec_weights, 'rec', self.device, backend, num_threads)
        self.batch_size = int(batch_size)
        self.rotate_tall, self.tall_ratio = bool(rotate_tall), float(tall_ratio)
        self.crop_margin = float(crop_margin)
        self.timings: dict[str, float] = dict.fromkeys(OCR_STAGES, 0.0)

    def reset_timings(self) -> None:
        self.timings = dict.fromkeys(OCR_STAGES, 0.0)

    @staticmethod
    def _read(img: ImageInput, i: int) -> tuple[np.ndarray, str | None]:
        return load_image(img, f'OCRInferencer: image {i}')

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """``(text, score)`` per crop (H x W x 3 uint8 BGR word images), in batches of ``batch_size`` of crops
        sorted by aspect ratio; results in the input order."""
        if self.ppocr is not None:  # PaddleOCR's batching (rec_batch_num, by aspect ratio)
            t0 = time.perf_counter()
            read = self.ppocr.recognize(list(crops))
            self.timings['rec'] += time.perf_counter() - t0
            return read
        order = sorted(range(len(crops)), key=lambda k: crops[k].shape[1] / max(1, crops[k].shape[0]))
        out: list[tuple[str, float] | None] = [None] * len(crops)
        t0 = time.perf_counter()
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            for k, res in zip(idx, self.recognizer([crops[k] for k in idx])):
                out[k] = res
        self.timings['rec'] += time.perf_counter() - t0
        return out  # type: ignore[return-value]

    def predict(self, images: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
        """Region dicts per image for BGR arrays (no files written)."""
        if self.ppocr is not None:
            return [self._predict_ppocr(img) for img in images]
        dets, crops, owner = [], [], []
        for i, img in enumerate(images):
            polys, scores = self.detector(img, self.timings)
            t0 = time.perf_counter()
            for k, p in enumerate(polys):
                region = expand_text_quad(p, self.crop_margin) if self.crop_margin else p
                crops.append(crop_text_region(img, region, rotate_tall=self.rotate_tall, tall_ratio=self.tall_ratio))
                owner.append((i, k))
            self.timings['crop'] += time.perf_counter() - t0
            dets.append((polys, scores))
        texts = self.recognize(crops)
        results: list[list[dict[str, Any]]] = [[None] * len(d[0]) for d in dets]  # type: ignore[list-item]
        for (i, k), (text, score) in zip(owner, texts):
            polys, scores = dets[i]
            results[i][k] = dict(polygon=[round(float(v), 2) for v in np.asarray(polys[k]).reshape(-1)],
                                 det_score=float(scores[k]), text=text, rec_score=float(score))
        return results

    def _predict_ppocr(self, img: np.ndarray) -> list[dict[str, Any]]:
        lines = self.ppocr(img)
        t = self.ppocr.system.timings  # det (network + post-processing), crop_cls (crops + classifier), rec
        self.timings['det_model'] += t.get('det', 0.0)
        self.timings['crop'] += t.get('crop_cls', 0.0)
        self.timings['rec'] += t.get('rec', 0.0)
        out = []
        for ln in lines:
            res = dict(polygon=[round(float(v), 2) for v in np.asarray(ln.quad).reshape(-1)],
                       det_score=float(ln.det_score), text=ln.text, rec_score=float(ln.score))
            if ln.angle is not None:
                res.update(angle=ln.angle, angle_score=float(ln.angle_score))
            out.append(res)
        return out

    # -- the base's hooks -------------------------------------------------------------------------------------
    def forward(self, batch: list[InputItem]) -> list[list[dict[str, Any]]]:
        return self.predict([item.numpy() for item in batch])

    def visualize(self, img: np.ndarray, pred: list[dict]) -> np.ndarray:
        """:func:`draw_ocr` of the image, as RGB (H x 2W x 3 uint8)."""
        return np.ascontiguousarray(draw_ocr(img, pred)[..., ::-1])

    def pred_to_json(self, pred: list[dict], item: InputItem) -> dict[str, Any]:
        return _document(item.numpy(), item.path, pred)

    def pred_file_name(self, name: str) -> str:
        return _json_name(name)

    def vis_file_name(self, name: str) -> str:
        return _picture_name(name)

    # -- running ----------------------------------------------------------------------------------------------
    def __call__(self, inputs: ImageInput | Sequence[ImageInput], out_dir: str | os.PathLike | None = None,
                 draw: bool = True):
        single = isinstance(inputs, np.ndarray) or input_kind(inputs) in ('image', 'url')
        # every image of the call in one batch: their crops are read in batches together (see batch_size)
        n = max(len(image_items(inputs, self.who, self.array_name)), 1)
        out = Path(out_dir) if out_dir is not None else None
        results = [r for batch in self.iterate(inputs, batch_size=n, pred_out_dir=out,
                                               vis_out_dir=out if draw else None, return_datasamples=True)
                   for r in batch['predictions']]
        return results[0] if single else results

    @staticmethod
    def save(loaded: Sequence[tuple[np.ndarray, str | None]], results: Sequence[list[dict]], out_dir,
             draw: bool = True) -> list[Path]:
        """Write ``<name>.json`` (``{"img_path", "height", "width", "results": [...]}``) and, with ``draw``,
        ``<name>_ocr.jpg`` per image (``<name>``: the file's stem, ``img_<i>`` for arrays; a repeated name gets
        ``_<i>``), as :meth:`__call__` with ``out_dir`` does. Returns the JSON paths."""
        out = Path(out_dir)
        names = unique_names([Path(path).name if path else OCRInferencer.array_name.format(i)
                              for i, (_, path) in enumerate(loaded)])
        paths = []
        for (img, path), res, name in zip(loaded, results, names):
            paths.append(write_json(out / _json_name(name), _document(img, path, res)))
            if draw:
                write_picture(out / _picture_name(name), draw_ocr(img, res)[..., ::-1], OCRInferencer.who)
        return paths
