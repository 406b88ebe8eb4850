"""End-to-end OCR: detect text regions, cut each out (perspective-rectified), read the crops in batches.

:class:`OCRInferencer` takes a text detector and a text recogniser, each either a config file with its
checkpoint (run through the config's test pipeline, as :func:`~visioncraft.apis.inference_detector`) or a
directory written by ``visioncraft export`` (run by :class:`~visioncraft.export.TextDetPredictor` /
:class:`~visioncraft.export.TextRecogPredictor`, no config needed). :func:`evaluate_ocr` scores it on a text
detection dataset with transcriptions (MMOCR JSON): end-to-end and detection-only hmean.

Results, per image, a list (one dict per detected region, in the detector's order)::

    {'polygon': [x0, y0, x1, y1, ...],   # float, ORIGINAL image pixels (pixel centres at integers)
     'det_score': float,                 # the detector's score of the region
     'text': str,                        # what the recogniser read ('' when nothing)
     'rec_score': float}                 # mean of its character scores (0.0 for '')

This module is where the two tasks meet (``apis/`` may use both; a task package never imports another).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from visioncraft.tasks.textrecog.utils import expand_text_quad  # noqa: F401  (re-exported: apis.ocr API)
from visioncraft.visualization import draw_polygons

__all__ = ['OCRInferencer', 'evaluate_ocr', 'draw_ocr', 'expand_text_quad', 'OCR_STAGES']

_logger = logging.getLogger('visioncraft')

ImageInput = Union[str, os.PathLike, np.ndarray]
#: the stages :attr:`OCRInferencer.timings` accumulates (seconds)
OCR_STAGES = ('det_pre', 'det_model', 'det_post', 'crop', 'rec')
CONFIG_SUFFIXES = ('.py', '.yaml', '.yml', '.json')


class _ConfigDetector:
    """A text detector from a config + checkpoint: the config's test pipeline, then the model in predict mode."""

    def __init__(self, model) -> None:
        from visioncraft.apis.det_inference import _test_pipeline
        self.model = model
        self.pipeline = _test_pipeline(model.cfg, True)

    def __call__(self, img: np.ndarray, timings: dict) -> tuple[list[np.ndarray], np.ndarray]:
        from visioncraft.data.collate import pseudo_collate
        t0 = time.perf_counter()
        packed = self.pipeline(dict(img=img))
        if packed is None:
            raise RuntimeError('OCRInferencer: the detector\'s test pipeline dropped the image')
        data = self.model.data_preprocessor(pseudo_collate([packed]), False)
        t1 = time.perf_counter()
        with torch.no_grad():  # network and the head's decoding in one call: exactly inference_detector's result
            pred = self.model(data['inputs'], data['data_samples'], mode='predict')
        t2 = time.perf_counter()
        timings['det_pre'] += t1 - t0
        timings['det_model'] += t2 - t1  # includes the decoding (det_post) on this path
        inst = pred[0].pred_instances
        scores = inst.scores.detach().cpu().numpy() if isinstance(inst.scores, torch.Tensor) \
            else np.asarray(inst.scores)
        return [np.asarray(p, np.float32) for p in inst.polygons], np.asarray(scores, np.float32)


class _ExportedDetector:
    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def __call__(self, img: np.ndarray, timings: dict) -> tuple[list[np.ndarray], np.ndarray]:
        t0 = time.perf_counter()
        batch, meta = self.predictor.preprocess(img)
        t1 = time.perf_counter()
        prob = self.predictor.forward(batch)[0]
        t2 = time.perf_counter()
        polys, scores = self.predictor.postprocess(prob, meta)
        t3 = time.perf_counter()
        timings['det_pre'] += t1 - t0
        timings['det_model'] += t2 - t1
        timings['det_post'] += t3 - t2
        return [np.asarray(p, np.float32) for p in polys], np.asarray(scores, np.float32)


class _ConfigRecognizer:
    """A recogniser from a config + checkpoint: the config's test pipeline per crop, ``model.test_step`` per
    batch (what :func:`inference_detector` does with the config's batch size)."""

    def __init__(self, model) -> None:
        from visioncraft.apis.det_inference import _test_pipeline
        self.model = model
        self.pipeline = _test_pipeline(model.cfg, True)

    @property
    def dictionary(self):
        return self.model.decoder.codec.dictionary

    def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        from visioncraft.data.collate import pseudo_collate
        packed = [self.pipeline(dict(img=c)) for c in crops]
        with torch.no_grad():
            out = self.model.test_step(pseudo_collate(packed))
        return [(str(s.pred_text), float(s.pred_score)) for s in out]


class _ExportedRecognizer:
    def __init__(self, predictor) -> None:
        self.predictor = predictor

    @property
    def dictionary(self):
        return self.predictor.codec.dictionary

    def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return [(t, float(s)) for t, s, _ in self.predictor.predict(crops)]


def _load(spec, weights, role: str, device: str, backend: str, num_threads: int | None = None):
    """A detector (``role='det'``) or recogniser (``'rec'``) runner from a config + weights or an export dir."""
    from visioncraft.export.core import INFERENCE_JSON
    from visioncraft.export.predictor import BACKENDS, load_predictor
    flag = f'--{role}'
    path = Path(spec)
    want_task = 'textdet' if role == 'det' else 'textrecog'
    if path.is_dir():
        if weights is not None:
            raise ValueError(f'{flag}-weights {weights} given with the exported model directory {path}: an export '
                             'holds its own weights (give a config file with weights, or the directory alone)')
        if not (path / INFERENCE_JSON).is_file():
            raise FileNotFoundError(f'{flag} {path}: not an exported model directory (no {INFERENCE_JSON}; write '
                                    f'one with `visioncraft export CONFIG CHECKPOINT --out-dir {path}`) and not a '
                                    'config file')
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        predictor = load_predictor(path, backend=backend, device=device, num_threads=num_threads)
        task = predictor.info.get('task', 'textdet')
        if task != want_task:
            raise ValueError(f'{flag} {path}: the export is a {task} model, {flag} needs a {want_task} one')
        return (_ExportedDetector if role == 'det' else _ExportedRecognizer)(predictor)
    if not path.is_file():
        raise FileNotFoundError(f'{flag} {path}: no such config file or exported model directory')
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ValueError(f'{flag} {path}: expected a config file ({", ".join(CONFIG_SUFFIXES)}) or an exported '
                         'model directory')
    if weights is None:
        raise ValueError(f'{flag} {path} is a config file: give its checkpoint with {flag}-weights CKPT (or pass an '
                         'exported model directory instead)')
    if not str(weights).startswith(('http://', 'https://')) and not Path(weights).is_file():
        raise FileNotFoundError(f'{flag}-weights: checkpoint file not found: {weights}')
    from visioncraft.apis.det_inference import init_detector
    model = init_detector(str(path), str(weights), device=device)
    if role == 'det' and not hasattr(model, 'det_head'):
        raise ValueError(f'{flag} {path}: its model ({type(model).__name__}) is not a text detector (no det_head)')
    if role == 'rec' and not hasattr(getattr(model, 'decoder', None), 'codec'):
        raise ValueError(f'{flag} {path}: its model ({type(model).__name__}) is not a text recogniser '
                         '(no decoder with a codec)')
    return (_ConfigDetector if role == 'det' else _ConfigRecognizer)(model)


class OCRInferencer:
    """Detect, crop and read text in images.

    Args:
        det: a text-detection config file (with ``det_weights``) or a directory written by ``visioncraft export``.
        rec: a text-recognition config file (with ``rec_weights``) or an exported recogniser directory.
        det_weights / rec_weights: checkpoints for config files (must be None for exported directories).
        device: ``'cpu'`` or ``'cuda[:N]'``.
        batch_size: crops per recognition batch. The crops of all images of one call are sorted by their
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

    ``inferencer(img)``: ``img`` is an image path or an H x W x 3 uint8 BGR array, or a list of them. Returns
    the list of region dicts (see the module docstring) for one image, a list of such lists for a list. With
    ``out_dir`` it also writes, per image, ``<name>.json`` and (``draw=True``) ``<name>_ocr.jpg``.
    :attr:`timings` accumulates the seconds spent in each of :data:`OCR_STAGES` (a config detector runs its
    network and its head's decoding in one ``model(..., mode='predict')`` call: both count as ``det_model``, and
    ``det_post`` stays 0; an exported detector splits them).
    """

    def __init__(self, det, rec, det_weights=None, rec_weights=None, device: str = 'cpu', batch_size: int = 8,
                 *, backend: str = 'onnxruntime', rotate_tall: bool = True, tall_ratio: float = 1.5,
                 num_threads: int | None = None, crop_margin: float = 0.0) -> None:
        if int(batch_size) < 1:
            raise ValueError(f'OCRInferencer: batch_size must be >= 1, got {batch_size}')
        self.detector = _load(det, det_weights, 'det', device, backend, num_threads)
        self.recognizer = _load(rec, rec_weights, 'rec', device, backend, num_threads)
        self.batch_size = int(batch_size)
        self.rotate_tall, self.tall_ratio = bool(rotate_tall), float(tall_ratio)
        if not 0 <= float(crop_margin) <= 2:
            raise ValueError(f'OCRInferencer: crop_margin must be in [0, 2] (a share of the text height), got '
                             f'{crop_margin}')
        self.crop_margin = float(crop_margin)
        self.timings: dict[str, float] = dict.fromkeys(OCR_STAGES, 0.0)

    def reset_timings(self) -> None:
        self.timings = dict.fromkeys(OCR_STAGES, 0.0)

    @staticmethod
    def _read(img: ImageInput, i: int) -> tuple[np.ndarray, str | None]:
        from .det_inference import read_image
        return read_image(img, f'OCRInferencer: image {i}')

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """``(text, score)`` per crop (H x W x 3 uint8 BGR word images), in batches of ``batch_size`` of crops
        sorted by aspect ratio; results in the input order."""
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
        from visioncraft.tasks.textrecog.utils import crop_text_region
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

    def __call__(self, inputs: ImageInput | Sequence[ImageInput], out_dir: str | os.PathLike | None = None,
                 draw: bool = True):
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        loaded = [self._read(img, i) for i, img in enumerate(items)]
        results = self.predict([img for img, _ in loaded])
        if out_dir is not None:
            self.save(loaded, results, out_dir, draw=draw)
        return results[0] if single else results

    @staticmethod
    def save(loaded: Sequence[tuple[np.ndarray, str | None]], results: Sequence[list[dict]], out_dir,
             draw: bool = True) -> list[Path]:
        """Write ``<name>.json`` (``{"img_path", "height", "width", "results": [...]}``) and, with ``draw``,
        ``<name>_ocr.jpg`` per image (``<name>``: the file's stem, ``img_<i>`` for arrays; a repeated name gets
        ``_<i>``). Returns the JSON paths."""
        import cv2
        from visioncraft.engine.checkpoint import atomic_write_text
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        paths = []
        for i, ((img, path), res) in enumerate(zip(loaded, results)):
            name = Path(path).stem if path else f'img_{i}'
            if name in seen:
                name = f'{name}_{i}'
            seen.add(name)
            doc = dict(img_path=path, height=int(img.shape[0]), width=int(img.shape[1]), results=res)
            atomic_write_text(out / f'{name}.json', json.dumps(doc, indent=1, ensure_ascii=False) + '\n')
            paths.append(out / f'{name}.json')
            if draw:
                cv2.imwrite(str(out / f'{name}_ocr.jpg'), draw_ocr(img, res))
        return paths


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


def _fold(dictionary, text: str) -> str:
    case = getattr(dictionary, 'case', 'keep')
    return text.lower() if case == 'lower' else text.upper() if case == 'upper' else text


def _eval_entry(ann: Path, k: int, entry) -> tuple[str, list[np.ndarray], np.ndarray, list[str]]:
    """``(img_path, polygons, ignore flags, texts)`` of data_list entry ``k`` of an MMOCR textdet JSON; a malformed
    entry is an :class:`~visioncraft.errors.AnnotationError` naming the file and the entry."""
    from visioncraft.errors import AnnotationError
    where = f'--eval {ann}, data_list entry {k}'
    if not isinstance(entry, dict) or not isinstance(entry.get('img_path'), str) or not entry['img_path']:
        raise AnnotationError(f'{where}: no "img_path" string')
    insts = entry.get('instances', [])
    if not isinstance(insts, list) or not all(isinstance(i, dict) for i in insts):
        raise AnnotationError(f'{where}: "instances" must be a list of objects, got {insts!r:.80}')
    polys = []
    for j, inst in enumerate(insts):
        try:
            poly = np.asarray(inst['polygon'], np.float32)
        except (KeyError, TypeError, ValueError):
            raise AnnotationError(f'{where}, instance {j}: "polygon" must be a list of numbers, got '
                                  f'{inst.get("polygon")!r:.80}') from None
        if poly.size < 6 or poly.size % 2 or not np.isfinite(poly).all() or poly.ndim > 2:
            raise AnnotationError(f'{where}, instance {j}: "polygon" needs an even number >= 6 of finite '
                                  f'coordinates, got {poly.size}')
        polys.append(poly)
    return (entry['img_path'], polys, np.array([bool(i.get('ignore', False)) for i in insts], bool),
            [str(i.get('text', '')) for i in insts])


def evaluate_ocr(inferencer: OCRInferencer, ann_file: str | os.PathLike, data_root: str | os.PathLike | None = None,
                 *, out_dir: str | os.PathLike | None = None, draw: bool = True, match_iou_thr: float = 0.5,
                 case_sensitive: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run ``inferencer`` on every image of a text-detection dataset with transcriptions and score it.

    Args:
        ann_file: MMOCR 1.x textdet JSON (``data_list`` of ``{img_path, instances: [{polygon, ignore, text}]}``;
            ``data/textdet_synth/textdet_val.json`` of the text-detection quickstart is one).
        data_root: the folder ``img_path`` is relative to (default: the annotation file's folder).
        out_dir: when given, the per-image JSON and pictures go there (see :meth:`OCRInferencer.save`) and the
            metrics to ``eval.json``.
        match_iou_thr / case_sensitive: of :class:`E2EHmeanIOUMetric` and :class:`HmeanIOUMetric` (default:
            IoU > 0.5, texts compared upper-cased with the ICDAR special characters stripped at the ends).

    Returns:
        ``{'e2e/precision', 'e2e/recall', 'e2e/hmean', 'e2e/best_score_thr', 'icdar/...' (detection only),
        'num_images', 'num_gt', 'num_gt_outside_dictionary', 'gt_chars_outside_dictionary', 'word_accuracy_matched',
        'images_per_s'}``. ``num_gt_outside_dictionary`` counts the non-ignored ground-truth words holding a
        character the recogniser cannot output (after its case folding): an upper bound on the recall lost to a
        dictionary that does not fit the data. ``word_accuracy_matched``: of the detections matching a
        non-ignored ground truth at IoU > ``match_iou_thr`` (greedy, best IoU first), the share whose text
        matches as the e2e metric compares.
    """
    from visioncraft.structures import DataSample, InstanceData
    from visioncraft.tasks.textdet.evaluation import E2EHmeanIOUMetric, HmeanIOUMetric
    from visioncraft.tasks.textdet.evaluation.e2e_hmean_iou_metric import e2e_text_match
    from visioncraft.tasks.textdet.evaluation.hmean_iou_metric import polygon_iou_matrix
    ann = Path(ann_file)
    if not ann.is_file():
        raise FileNotFoundError(f'--eval: annotation file not found: {ann}')
    from visioncraft.errors import AnnotationError, read_json
    data = read_json(ann, '--eval annotation file')
    if not isinstance(data, dict) or not isinstance(data.get('data_list'), list):
        raise AnnotationError(f'--eval {ann}: not an MMOCR textdet JSON with a "data_list" list')
    entries = [_eval_entry(ann, k, e) for k, e in enumerate(data['data_list'])]  # all checked before the models run
    root = Path(data_root) if data_root is not None else ann.parent
    e2e = E2EHmeanIOUMetric(match_iou_thr=match_iou_thr, case_sensitive=case_sensitive)
    det = HmeanIOUMetric(match_iou_thr=match_iou_thr)
    dictionary = inferencer.recognizer.dictionary
    outside: dict[str, int] = {}
    n_gt = n_gt_outside = matched = matched_right = 0
    inferencer.reset_timings()
    t0 = time.perf_counter()
    for k, (img_path, gt_polys, gt_ign, gt_texts) in enumerate(entries):
        path = root / img_path
        if not path.is_file():
            raise FileNotFoundError(f'--eval {ann}: image {k} not found: {path} (is {root} the data root?)')
        img, _ = OCRInferencer._read(path, k)
        res = inferencer.predict([img])[0]
        if out_dir is not None:
            OCRInferencer.save([(img, str(path))], [res], out_dir, draw=draw)
        for t, ign in zip(gt_texts, gt_ign):
            if ign:
                continue
            n_gt += 1
            bad = [c for c in _fold(dictionary, t) if c not in dictionary.chars]
            if bad:
                n_gt_outside += 1
                for c in bad:
                    outside[c] = outside.get(c, 0) + 1
        pred_polys = [np.asarray(r['polygon'], np.float32) for r in res]
        sample = DataSample(metainfo=dict(img_path=str(path)))
        sample.gt_instances = InstanceData(polygons=gt_polys, ignored=torch.from_numpy(gt_ign), texts=gt_texts)
        sample.pred_instances = InstanceData(polygons=pred_polys,
                                             scores=torch.tensor([r['det_score'] for r in res], dtype=torch.float32),
                                             texts=[r['text'] for r in res])
        e2e.process(None, [sample])
        det.process(None, [sample])
        if gt_polys and pred_polys:  # recognition quality on the regions the detector found
            iou = polygon_iou_matrix(gt_polys, pred_polys)[0]
            iou[gt_ign] = 0
            used_g, used_p = set(), set()
            for flat in np.argsort(-iou, axis=None):
                g, p = divmod(int(flat), iou.shape[1])
                if iou[g, p] <= match_iou_thr:
                    break
                if g in used_g or p in used_p:
                    continue
                used_g.add(g)
                used_p.add(p)
                matched += 1
                matched_right += bool(e2e_text_match(gt_texts[g], res[p]['text'], e2e.case_sensitive,
                                                     e2e.special_characters))
        if progress and (k + 1) % 20 == 0:
            print(f'{k + 1}/{len(entries)} images')
    seconds = time.perf_counter() - t0
    metrics: dict[str, Any] = {}
    metrics.update(e2e.evaluate(len(entries)))
    metrics.update(det.evaluate(len(entries)))
    metrics.update(num_images=len(entries), num_gt=n_gt, num_gt_outside_dictionary=n_gt_outside,
                   gt_chars_outside_dictionary=dict(sorted(outside.items(), key=lambda kv: -kv[1])),
                   word_accuracy_matched=(matched_right / matched) if matched else 0.0, num_matched=matched,
                   images_per_s=len(entries) / seconds if seconds > 0 else 0.0,
                   stage_seconds={k: round(v, 3) for k, v in inferencer.timings.items()})
    if out_dir is not None:
        from visioncraft.engine.checkpoint import atomic_write_text
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out_dir) / 'eval.json', json.dumps(metrics, indent=2) + '\n')
    return metrics
