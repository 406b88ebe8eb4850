"""Score OCR end to end: :func:`evaluate_ocr` runs an :class:`~visioncraft.apis.OCRInferencer` on every image of a
text-detection dataset with transcriptions (MMOCR JSON) and reports the end-to-end and detection-only hmean
(``visioncraft ocr --eval``)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.errors import AnnotationError, read_json
from visioncraft.fileio.checkpoint import atomic_write_text
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.textdet.evaluation import E2EHmeanIOUMetric, HmeanIOUMetric
from visioncraft.tasks.textdet.evaluation.e2e_hmean_iou_metric import e2e_text_match
from visioncraft.tasks.textdet.evaluation.hmean_iou_metric import polygon_iou_matrix

from .ocr_inferencer import OCRInferencer

__all__ = ['evaluate_ocr']


def _fold(dictionary, text: str) -> str:
    case = getattr(dictionary, 'case', 'keep')
    return text.lower() if case == 'lower' else text.upper() if case == 'upper' else text


def _eval_entry(ann: Path, k: int, entry) -> tuple[str, list[np.ndarray], np.ndarray, list[str]]:
    """``(img_path, polygons, ignore flags, texts)`` of data_list entry ``k`` of an MMOCR textdet JSON; a malformed
    entry is an :class:`~visioncraft.errors.AnnotationError` naming the file and the entry."""
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
    ann = Path(ann_file)
    if not ann.is_file():
        raise FileNotFoundError(f'--eval: annotation file not found: {ann}')
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
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out_dir) / 'eval.json', json.dumps(metrics, indent=2) + '\n')
    return metrics
