"""COCO keypoint AP / AR (OKS) for top-down pose predictions, computed by pycocotools' ``COCOeval``.

Per data sample the metric reads ``pred_instances.keypoints`` (N, K, 2) image pixels, ``keypoint_scores``
(N, K), optional ``bbox_scores`` (N,) (1.0 when absent), the metainfo ``id`` (annotation / detection id),
``img_id``, ``category_id`` (default 1) and ``ori_shape``, and ``gt_instances.bbox_scales`` (N, 2) when present
(the instance area used by OKS NMS; otherwise the keypoints' extent).
"""
from __future__ import annotations

import copy
import functools
import json
import logging
import os
import os.path as osp
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from visioncraft.data.coco_json import load_coco
from visioncraft.evaluation.coco_utils import coco_from_dict, pycocotools, quiet
from visioncraft.evaluation.metric import BaseMetric
from visioncraft.registry import METRICS, TRANSFORMS
from visioncraft.structures import DataSample, to_numpy

from ._utils import KeypointMapping, require
from .nms import oks_nms, soft_oks_nms

__all__ = ['CocoPoseMetric', 'STATS_NAMES']

logger = logging.getLogger(__name__)

#: the ten numbers of ``COCOeval.stats`` for keypoints, as MMPose names them
STATS_NAMES = ('AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5', 'AR .75', 'AR (M)', 'AR (L)')
SCORE_MODES = ('bbox', 'bbox_keypoint', 'bbox_rle', 'keypoint')
NMS_MODES = ('oks_nms', 'soft_oks_nms', 'none')


def _pycocotools():
    """(COCO, COCOeval), imported on first use."""
    return pycocotools('CocoPoseMetric')[1:]


def _keypoint_cocoeval(coco_gt, coco_dt, sigmas: np.ndarray, use_area: bool):
    """A keypoint ``COCOeval`` with ``sigmas``; ``use_area=False`` normalises OKS by 0.53 x the ground-truth
    box area instead of the annotated ``area`` (xtcocotools' convention, used for datasets without areas)."""
    _, coco_eval_cls = _pycocotools()
    ev = (coco_eval_cls if use_area else _box_area_cocoeval_cls())(coco_gt, coco_dt, 'keypoints')
    ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
    return ev


@functools.lru_cache(maxsize=None)
def _box_area_cocoeval_cls():
    _, coco_eval_cls = _pycocotools()

    class BoxAreaCOCOeval(coco_eval_cls):
        def computeOks(self, imgId, catId):  # noqa: N802 (pycocotools' name)
            """OKS of detections x ground truths with area = 0.53 * box w * h (vectorised)."""
            p = self.params
            gts = self._gts[imgId, catId]
            dts = self._dts[imgId, catId]
            order = np.argsort([-d['score'] for d in dts], kind='mergesort')
            dts = [dts[i] for i in order][:p.maxDets[-1]]
            if not gts or not dts:
                return []
            var = (np.asarray(p.kpt_oks_sigmas, dtype=np.float64) * 2) ** 2
            d = np.asarray([dt['keypoints'] for dt in dts], dtype=np.float64).reshape(len(dts), -1, 3)
            ious = np.zeros((len(dts), len(gts)))
            for j, gt in enumerate(gts):
                g = np.asarray(gt['keypoints'], dtype=np.float64).reshape(-1, 3)
                vis = g[:, 2] > 0
                x, y, w, h = gt['bbox']
                area = w * h * 0.53
                if vis.any():
                    dx, dy = d[:, :, 0] - g[:, 0], d[:, :, 1] - g[:, 1]
                else:  # distance to a box twice the ground-truth box
                    dx = np.maximum(0, (x - w) - d[:, :, 0]) + np.maximum(0, d[:, :, 0] - (x + 2 * w))
                    dy = np.maximum(0, (y - h) - d[:, :, 1]) + np.maximum(0, d[:, :, 1] - (y + 2 * h))
                e = (dx ** 2 + dy ** 2) / var / (area + np.spacing(1)) / 2
                if vis.any():
                    e = e[:, vis]
                ious[:, j] = np.exp(-e).mean(axis=1)
            return ious

    return BoxAreaCOCOeval


def _category_of(sample: DataSample) -> int:
    """The sample's ``category_id`` metainfo (the first one when a bottom-up sample gives a list), default 1."""
    cat = sample.get('category_id')
    if cat is None:
        return 1
    flat = to_numpy(cat).reshape(-1)
    return int(flat[0]) if len(flat) else 1


@METRICS.register_module(['CocoPoseMetric', 'mmpose.CocoMetric'])
class CocoPoseMetric(BaseMetric):
    """COCO keypoint OKS AP / AR (MMPose's ``CocoMetric``; ``type='CocoMetric'`` under ``default_scope='mmpose'``).

    Args:
        ann_file: COCO person-keypoints JSON of the evaluated images. None builds the ground truth from the
            samples: each sample's ``raw_ann_info`` (the COCO annotation dict, or a list of them) when present,
            else its ``gt_instances`` (``keypoints`` (N, K, 2) px, ``keypoints_visible`` (N, K), ``bboxes``
            (N, 4) xyxy px, optional ``areas``; all-zero keypoints, as a ``bbox_file`` sample has, are no
            ground truth), with image sizes from ``ori_shape``. Annotations repeated across samples (same
            ``id``) count once.
        use_area: OKS scale from the annotated ``area`` (True) or 0.53 x the ground-truth box area (False,
            for datasets whose areas are missing, e.g. AIC / MPII converted to COCO).
        iou_type: only ``'keypoints'``.
        score_mode: the instance score ranked by COCOeval: ``'bbox'`` (the box score), ``'bbox_keypoint'``
            (box score x mean of the keypoint scores above ``keypoint_score_thr``; 0 when none is),
            ``'bbox_rle'`` (box score + mean + max keypoint score) or ``'keypoint'`` (mean keypoint score).
        keypoint_score_thr: see ``'bbox_keypoint'``.
        nms_mode: ``'oks_nms'``, ``'soft_oks_nms'`` or ``'none'``, per image, with ``nms_thr`` (OKS above which a
            lower-scoring pose is dropped; the Gaussian's width for soft NMS).
        format_only: only write ``<outfile_prefix>.keypoints.json`` (COCO results) and return ``{}``.
        outfile_prefix: where result JSON files go (required by ``format_only``; written whenever given, with
            ``<outfile_prefix>.gt.json`` when the ground truth was built from the samples).
        gt_converter: a ``KeypointConverter`` config (``num_keypoints``, ``mapping=[(src, dst), ...]``, built
            with ``TRANSFORMS``) mapping the ground truth's keypoints, and ``dataset_meta['sigmas']``, to the
            model's layout, for a dataset whose keypoints differ from the model's. It maps the ``ann_file``'s or
            the ``raw_ann_info`` annotations; ground truth built from ``gt_instances`` is taken as it is (the
            pipeline's layout).
        collect_device, prefix: see :class:`~visioncraft.evaluation.BaseMetric` (default prefix ``'coco'``).

    Keys (before the prefix): ``AP, AP .5, AP .75, AP (M), AP (L), AR, AR .5, AR .75, AR (M), AR (L)`` (floats
    in [0, 1]; -1 where COCOeval has nothing to evaluate). OKS sigmas come from ``dataset_meta['sigmas']``.
    """

    default_prefix = 'coco'

    def __init__(self, ann_file: str | None = None, use_area: bool = True, iou_type: str = 'keypoints',
                 score_mode: str = 'bbox_keypoint', keypoint_score_thr: float = 0.2, nms_mode: str = 'oks_nms',
                 nms_thr: float = 0.9, format_only: bool = False, outfile_prefix: str | None = None,
                 gt_converter: dict | None = None, collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if iou_type != 'keypoints':
            raise ValueError(f"CocoPoseMetric: iou_type must be 'keypoints', got {iou_type!r}")
        if score_mode not in SCORE_MODES:
            raise ValueError(f'CocoPoseMetric: score_mode must be one of {SCORE_MODES}, got {score_mode!r}')
        if nms_mode not in NMS_MODES:
            raise ValueError(f'CocoPoseMetric: nms_mode must be one of {NMS_MODES}, got {nms_mode!r}')
        if format_only and not outfile_prefix:
            raise ValueError('CocoPoseMetric: format_only=True writes <outfile_prefix>.keypoints.json, so it needs '
                             "outfile_prefix (e.g. outfile_prefix='work_dirs/test/results')")
        self.ann_file = ann_file
        self.use_area = bool(use_area)
        self.iou_type = iou_type
        self.score_mode = score_mode
        self.keypoint_score_thr = float(keypoint_score_thr)
        self.nms_mode = nms_mode
        self.nms_thr = float(nms_thr)
        self.format_only = bool(format_only)
        self.outfile_prefix = outfile_prefix
        self.gt_converter = None
        self._mapping: KeypointMapping | None = None
        if gt_converter is not None:
            self.gt_converter = TRANSFORMS.build(gt_converter, key_path='gt_converter')
            self._mapping = KeypointMapping.from_converter(self.gt_converter,
                                                           gt_converter if isinstance(gt_converter, dict) else None)
        coco_cls, _ = _pycocotools()
        self._file_coco = None
        if ann_file is not None:
            if not osp.isfile(ann_file):
                raise FileNotFoundError(f'CocoPoseMetric: ann_file {ann_file!r} does not exist')
            coco = load_coco(ann_file, 'CocoPoseMetric', coco_cls)
            if not format_only and not coco.dataset.get('annotations'):
                raise ValueError(f'CocoPoseMetric: ann_file {ann_file!r} has no annotations; evaluation needs '
                                 'them (use format_only=True to only write results)')
            self._file_coco = self._convert_gt(coco)
        self.last_stats: np.ndarray | None = None

    # -- per batch --------------------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append one ``(pred, gt)`` pair of plain numpy / dicts per sample (``gt`` None with an ann_file)."""
        name = type(self).__name__
        for k, sample in enumerate(data_samples):
            pred_inst = require(sample, 'pred_instances', name, k, "the model must predict in mode='predict'")
            kpts = to_numpy(require(pred_inst, 'keypoints', name, k), np.float64)
            kpts = kpts.reshape(-1, *kpts.shape[-2:])
            scores = pred_inst.get('keypoint_scores')
            scores = np.ones(kpts.shape[:2]) if scores is None else to_numpy(scores, np.float64).reshape(kpts.shape[:2])
            n = len(kpts)
            bbox_scores = pred_inst.get('bbox_scores')
            bbox_scores = np.ones(n) if bbox_scores is None else \
                np.broadcast_to(to_numpy(bbox_scores, np.float64).reshape(-1), (n,)).copy()
            img_id = require(sample, 'img_id', name, k, 'every sample needs metainfo img_id (the COCO image id)')
            gt_inst = sample.get('gt_instances')
            scales = None if gt_inst is None else gt_inst.get('bbox_scales')
            if scales is not None:
                areas = np.broadcast_to(np.prod(to_numpy(scales, np.float64).reshape(-1, 2), axis=1), (n,)).copy()
            else:
                areas = np.ptp(kpts[..., 0], axis=1) * np.ptp(kpts[..., 1], axis=1)
            ann_id = sample.get('id')
            pred = dict(id=None if ann_id is None else to_numpy(ann_id).reshape(-1).tolist(),
                        img_id=int(img_id), category_id=_category_of(sample),
                        keypoints=kpts, keypoint_scores=scores, bbox_scores=bbox_scores, areas=areas)
            gt = None if self._file_coco is not None else self._gt_of(sample, int(img_id), name, k)
            self.results.append((pred, gt))

    @staticmethod
    def _gt_of(sample: DataSample, img_id: int, name: str, k: int) -> dict:
        ori_shape = require(sample, 'ori_shape', name, k, 'without ann_file the image size comes from ori_shape')
        height, width = int(ori_shape[0]), int(ori_shape[1])
        raw = sample.get('raw_ann_info')
        if raw is not None:
            anns = [dict(a) for a in (raw if isinstance(raw, (list, tuple)) else [raw])]
        else:
            gt_inst = require(sample, 'gt_instances', name, k, 'without ann_file the ground truth comes from '
                              'raw_ann_info or gt_instances')
            kpts = to_numpy(require(gt_inst, 'keypoints', name, k), np.float64)
            kpts = kpts.reshape(-1, *kpts.shape[-2:])
            vis = to_numpy(require(gt_inst, 'keypoints_visible', name, k), np.float64)
            vis = (vis[..., 0] if vis.ndim == 3 else vis).reshape(kpts.shape[:2])
            boxes = to_numpy(require(gt_inst, 'bboxes', name, k), np.float64).reshape(-1, 4)
            areas = gt_inst.get('areas')
            areas = None if areas is None else to_numpy(areas, np.float64).reshape(-1)
            ids = sample.get('id')
            ids = [None] * len(kpts) if ids is None else to_numpy(ids).reshape(-1).tolist()
            anns = []
            for i in range(len(kpts)):
                if not kpts[i].any():  # a detected box (bbox_file) carries no ground truth
                    continue
                x1, y1, x2, y2 = boxes[i].tolist()
                flat = np.concatenate([kpts[i], 2.0 * (vis[i] > 0)[:, None]], axis=1)
                flat[vis[i] <= 0, :2] = 0
                anns.append(dict(id=ids[i] if i < len(ids) else None, keypoints=flat.reshape(-1).tolist(),
                                 num_keypoints=int((vis[i] > 0).sum()), bbox=[x1, y1, x2 - x1, y2 - y1],
                                 area=float(areas[i]) if areas is not None else float((x2 - x1) * (y2 - y1)),
                                 iscrowd=0, category_id=_category_of(sample)))
        return dict(img_id=img_id, width=width, height=height, anns=anns, raw=raw is not None)

    # -- ground truth -----------------------------------------------------------------------------
    def _convert_gt(self, coco):
        """``coco`` with its annotations mapped by ``gt_converter`` (a new COCO object), or ``coco`` itself."""
        if self._mapping is None:
            return coco
        dataset = copy.deepcopy(coco.dataset)
        dataset['annotations'] = [self._mapping.coco_ann(a) for a in dataset.get('annotations', [])]
        return coco_from_dict(dataset, 'CocoPoseMetric')

    def _build_gt(self, gts: list[dict]):
        """A COCO ground-truth object from the samples' ground truth (one image per ``img_id``, one annotation
        per annotation ``id``; ids renumbered from 1)."""
        images, anns, seen_imgs, seen_anns, cat_ids = [], [], set(), set(), set()
        for g in gts:
            if g['img_id'] not in seen_imgs:
                seen_imgs.add(g['img_id'])
                images.append(dict(id=g['img_id'], width=g['width'], height=g['height'], file_name=str(g['img_id'])))
            for a in g['anns']:
                if a.get('id') is not None and a['id'] in seen_anns:
                    continue
                a = dict(a)
                if self._mapping is not None and g.get('raw', True):  # gt_instances are in the pipeline's layout
                    a = self._mapping.coco_ann(a)
                if a.get('id') is None:
                    a['id'] = f'__auto_{len(anns)}'
                seen_anns.add(a['id'])
                if 'keypoints' not in a:
                    raise KeyError(f'CocoPoseMetric: ground-truth annotation {a["id"]} of image {g["img_id"]} has '
                                   'no keypoints')
                a['image_id'] = g['img_id']
                a.setdefault('category_id', 1)
                a.setdefault('iscrowd', 0)
                v = np.asarray(a['keypoints'], dtype=np.float64).reshape(-1, 3)[:, 2]
                a.setdefault('num_keypoints', int((v > 0).sum()))
                if 'bbox' not in a:
                    raise KeyError(f'CocoPoseMetric: ground-truth annotation {a["id"]} of image {g["img_id"]} has '
                                   'no bbox')
                a.setdefault('area', float(a['bbox'][2] * a['bbox'][3]))
                cat_ids.add(a['category_id'])
                anns.append(a)
        # pycocotools wants int annotation ids; renumber from 1 in a stable order
        for i, a in enumerate(anns, 1):
            a['id'] = i
        meta = self.dataset_meta or {}
        names = meta.get('keypoint_id2name')
        cats = [dict(id=c, name='person', supercategory='person') for c in sorted(cat_ids or {1})]
        if names:
            for c in cats:
                c['keypoints'] = [names[i] for i in sorted(names)]
        return coco_from_dict(dict(images=images, annotations=anns, categories=cats), 'CocoPoseMetric')

    def _sigmas(self, num_keypoints: int) -> np.ndarray:
        meta = self.dataset_meta or {}
        if meta.get('sigmas') is None:
            raise KeyError("CocoPoseMetric: dataset_meta has no 'sigmas' (the OKS sigmas of the dataset's "
                           'keypoints); the dataset metainfo (e.g. configs/_base_/datasets/coco.py) must set them')
        sigmas = np.asarray(meta['sigmas'], dtype=np.float64).reshape(-1)
        if self._mapping is not None:
            sigmas = self._mapping.sigmas(sigmas)
        if len(sigmas) != num_keypoints:
            raise ValueError(f'CocoPoseMetric: {len(sigmas)} OKS sigmas (dataset_meta, after gt_converter) but the '
                             f'predictions have {num_keypoints} keypoints')
        return sigmas

    # -- evaluation -------------------------------------------------------------------------------
    def _score(self, kpt_scores: np.ndarray, bbox_score: float) -> float:
        if self.score_mode == 'bbox':
            return float(bbox_score)
        if self.score_mode == 'keypoint':
            return float(np.mean(kpt_scores))
        if self.score_mode == 'bbox_rle':
            return float(bbox_score + np.mean(kpt_scores) + np.max(kpt_scores))
        valid = kpt_scores[kpt_scores > self.keypoint_score_thr]
        return float(bbox_score * (valid.mean() if len(valid) else 0.0))

    def results_to_coco(self, preds: list[dict]) -> list[dict]:
        """COCO keypoint results (``image_id``, ``category_id``, ``keypoints`` flat [x, y, score] * K,
        ``score``) after rescoring (``score_mode``) and per-image NMS (``nms_mode``)."""
        per_image: dict[int, list[dict]] = defaultdict(list)
        seen: set = set()
        for p in preds:
            for i in range(len(p['keypoints'])):
                ann_id = None if p['id'] is None else p['id'][min(i, len(p['id']) - 1)]
                if ann_id is not None and len(p['keypoints']) == 1:
                    if (p['img_id'], ann_id) in seen:  # a sample evaluated twice (sampler padding)
                        continue
                    seen.add((p['img_id'], ann_id))
                per_image[p['img_id']].append(dict(
                    img_id=p['img_id'], category_id=p['category_id'],
                    keypoints=np.concatenate([p['keypoints'][i], p['keypoint_scores'][i][:, None]], axis=1),
                    score=self._score(p['keypoint_scores'][i], p['bbox_scores'][i]), area=float(p['areas'][i])))
        out = []
        sigmas = None
        for img_id in per_image:
            instances = per_image[img_id]
            if self.nms_mode != 'none':
                if sigmas is None:
                    sigmas = self._sigmas(instances[0]['keypoints'].shape[0])
                nms = oks_nms if self.nms_mode == 'oks_nms' else soft_oks_nms
                instances = [instances[i] for i in nms(instances, self.nms_thr, sigmas)]
            out.extend(dict(image_id=inst['img_id'], category_id=inst['category_id'],
                            keypoints=inst['keypoints'].reshape(-1).tolist(), score=inst['score'])
                       for inst in instances)
        return out

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        preds = [r[0] for r in results]
        gts = [r[1] for r in results]
        coco_results = self.results_to_coco(preds)
        coco_gt = self._file_coco
        if self.outfile_prefix:
            folder = osp.dirname(self.outfile_prefix)
            if folder:
                os.makedirs(folder, exist_ok=True)
            with open(f'{self.outfile_prefix}.keypoints.json', 'w') as f:
                json.dump(coco_results, f)
        if self.format_only:
            logger.info('CocoPoseMetric: results written to %s.keypoints.json', self.outfile_prefix)
            return {}
        if coco_gt is None:
            coco_gt = self._build_gt(gts)
            if self.outfile_prefix:
                with open(f'{self.outfile_prefix}.gt.json', 'w') as f:
                    json.dump(coco_gt.dataset, f)
        if not coco_results:
            warnings.warn('CocoPoseMetric: no predicted poses; every AP / AR is 0', stacklevel=2)
            return {k: 0.0 for k in STATS_NAMES}
        num_kpts = len(coco_results[0]['keypoints']) // 3
        coco_dt = quiet(coco_gt.loadRes, coco_results)[0]
        ev = _keypoint_cocoeval(coco_gt, coco_dt, self._sigmas(num_kpts), self.use_area)
        quiet(ev.evaluate)
        quiet(ev.accumulate)
        _, text = quiet(ev.summarize)
        logger.info('CocoPoseMetric:\n%s', text)
        self.last_stats = np.asarray(ev.stats, dtype=np.float64)
        return {name: float(v) for name, v in zip(STATS_NAMES, ev.stats)}
