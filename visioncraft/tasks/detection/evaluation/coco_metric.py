"""COCO-style detection metrics (box AP, mask AP, proposal AR), computed by pycocotools' ``COCOeval``.

Each sample's ``pred_instances`` (``bboxes`` xyxy in original-image pixels, ``scores``, ``labels`` 0..C-1,
optional ``masks`` bool NxHxW at ``ori_shape``) becomes COCO result dicts (``bbox`` as xywh, ``category_id``,
``segmentation`` as an RLE whose ``counts`` is a str). The ground truth is the ``ann_file`` instances file, or,
without one, a COCO object built from the samples' ``gt_instances`` / ``ignored_instances``.
"""
from __future__ import annotations

import json
import logging
import os
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from visioncraft.data.coco_json import load_coco
from visioncraft.evaluation.coco_utils import coco_from_dict, pycocotools, quiet
from visioncraft.evaluation.metric import BaseMetric
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, to_numpy

from ._utils import boxes_of, instances_of, labels_of, masks_to_numpy

if TYPE_CHECKING:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

__all__ = ['CocoMetric', 'encode_masks']

logger = logging.getLogger(__name__)

METRIC_TYPES = ('bbox', 'segm', 'proposal')
# Index of each summary number in COCOeval.stats (with params.maxDets = proposal_nums).
_AP_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def _pycocotools():
    """(mask module, COCO, COCOeval), imported on first use: pycocotools is an optional dependency."""
    return pycocotools('CocoMetric')


def encode_masks(masks: np.ndarray) -> list[dict]:
    """COCO RLEs (``counts`` decoded to str, JSON-ready) of bool masks NxHxW."""
    if len(masks) == 0:
        return []
    mask_util = _pycocotools()[0]
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle['counts'] = rle['counts'].decode('ascii')
    return rles


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    out[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    return out


@METRICS.register_module()
class CocoMetric(BaseMetric):
    """COCO AP / AR of boxes, masks and class-agnostic proposals.

    Args:
        ann_file: COCO instances JSON of the evaluated images. None builds the ground truth from the samples
            (category id = label index, names from ``dataset_meta['classes']``; area = mask area when there are
            masks, else box area): from their raw ``instances`` annotations when present (``bbox`` xyxy,
            ``bbox_label``, ``ignore_flag`` -> ``iscrowd``, ``mask`` polygons or RLE), else from ``gt_instances``
            (``bboxes`` xyxy, ``labels``, optional ``masks``) and ``ignored_instances`` (``iscrowd=1``), mapped
            back to ``ori_shape`` with ``scale_factor`` when the pipeline resized them.
        metric: ``'bbox'``, ``'segm'``, ``'proposal'`` or a sequence of them.
        classwise: also log a per-class AP table and return ``'{metric}_{class name}_precision'`` (AP@[.5:.95],
            all areas, rounded to 3 decimals; NaN for a class without ground truth).
        proposal_nums: exactly three max-detection numbers, used as ``COCOeval.params.maxDets`` for every
            metric (as MMDetection does): box / mask AP are taken at the last one, proposal AR at each.
        iou_thrs: IoU thresholds; default ``0.50:0.05:0.95``.
        metric_items: which summary numbers to return, among ``mAP, mAP_50, mAP_75, mAP_s, mAP_m, mAP_l,
            AR@{n}`` (n in ``proposal_nums``) and ``AR_s@{n}, AR_m@{n}, AR_l@{n}`` (n = ``proposal_nums[-1]``).
            Default: the six mAP items for bbox / segm and the six AR items for proposal.
        format_only: only write ``<outfile_prefix>.{bbox,segm,proposal}.json`` (e.g. for a test-dev server)
            and return ``{}``.
        outfile_prefix: where result JSON files go (required by ``format_only``; written whenever given).
        collect_device, prefix, backend_args: see :class:`~visioncraft.evaluation.BaseMetric` (default prefix
            ``'coco'``; ``backend_args``: local files only).
        sort_categories: when the category order comes from ``ann_file`` (no ``classes`` in ``dataset_meta``),
            order categories by id instead of by their position in the file.

    Returned keys (before the prefix): ``'{bbox|segm}_{item}'`` for AP items (``bbox_mAP``, ``bbox_mAP_50``,
    ...), and the bare item for proposal (``AR@100``, ``AR@300``, ``AR@1000``, ``AR_s@1000``, ...). Values
    are rounded to 3 decimals; the unrounded ``COCOeval.stats`` of the last evaluation are kept in
    :attr:`last_stats` (``{metric type: ndarray of 12}``). ``-1`` means "nothing to evaluate" (no ground
    truth in that area range), as in pycocotools.

    Label ``i`` maps to the category whose name is ``dataset_meta['classes'][i]`` in ``ann_file``; an explicit
    ``dataset_meta['cat_ids']`` list overrides that.
    """

    default_prefix = 'coco'

    def __init__(self, ann_file: str | None = None, metric: str | Sequence[str] = ('bbox',),
                 classwise: bool = False, proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thrs: float | Sequence[float] | None = None, metric_items: Sequence[str] | None = None,
                 format_only: bool = False, outfile_prefix: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None, sort_categories: bool = False, backend_args: dict | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, backend_args=backend_args)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        bad = [m for m in metrics if m not in METRIC_TYPES]
        if bad or not metrics:
            raise ValueError(f'CocoMetric: metric must be one or more of {METRIC_TYPES}, got {metric!r}')
        self.metrics = list(dict.fromkeys(metrics))
        self.classwise = bool(classwise)
        self.proposal_nums = tuple(int(n) for n in proposal_nums)
        if len(self.proposal_nums) != 3 or min(self.proposal_nums) < 1:
            raise ValueError('CocoMetric: proposal_nums must be three positive ints (COCOeval summarises at '
                             f'three max-detection numbers), got {proposal_nums!r}')
        if iou_thrs is None:  # the same expression as pycocotools' Params, so 0.5 / 0.75 look-ups match exactly
            iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.iou_thrs = np.atleast_1d(np.asarray(iou_thrs, dtype=np.float64))
        n_small = self.proposal_nums[-1]
        self._stat_index = {**{k: i for i, k in enumerate(_AP_ITEMS)},
                            **{f'AR@{n}': 6 + i for i, n in enumerate(self.proposal_nums)},
                            f'AR_s@{n_small}': 9, f'AR_m@{n_small}': 10, f'AR_l@{n_small}': 11}
        if metric_items is not None:
            metric_items = [metric_items] if isinstance(metric_items, str) else list(metric_items)
            unknown = [m for m in metric_items if m not in self._stat_index]
            if unknown:
                raise KeyError(f'CocoMetric: unknown metric_items {unknown}; choose from {list(self._stat_index)}')
        self.metric_items = metric_items
        self.format_only = bool(format_only)
        if self.format_only and not outfile_prefix:
            raise ValueError('CocoMetric: format_only=True writes <outfile_prefix>.bbox.json etc., so it needs '
                             "outfile_prefix (e.g. outfile_prefix='work_dirs/test/results')")
        self.outfile_prefix = outfile_prefix
        self.sort_categories = bool(sort_categories)
        self.ann_file = ann_file
        self._coco_api: COCO | None = None
        _pycocotools()  # fail at build time, not after a whole validation epoch
        if ann_file is not None:
            if not osp.isfile(ann_file):
                raise FileNotFoundError(f'CocoMetric: ann_file {ann_file!r} does not exist')
            self._coco_api = load_coco(ann_file, 'CocoMetric', _pycocotools()[1])
        self.last_stats: dict[str, np.ndarray] = {}

    # -- per batch --------------------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Store one ``(gt, pred)`` pair of plain numpy / RLE dicts per sample (``gt`` is None with an
        ``ann_file``)."""
        for sample in data_samples:
            img_id = sample.get('img_id')
            if img_id is None:
                raise KeyError('CocoMetric: every data sample needs metainfo img_id (the COCO image id)')
            pred = instances_of(sample, 'pred_instances')
            boxes = boxes_of(pred)
            n = len(boxes)
            scores = None if pred is None else pred.get('scores')
            scores = np.zeros(n) if scores is None else to_numpy(scores, np.float64).reshape(-1)
            result = dict(img_id=int(img_id), bboxes=boxes, scores=scores, labels=labels_of(pred, n))
            if 'segm' in self.metrics:
                masks = None if pred is None else pred.get('masks')
                if masks is None and n > 0:
                    raise KeyError(f"CocoMetric: metric 'segm' needs pred_instances.masks (image {img_id})")
                result['masks'] = self._pred_rles(masks, sample.get('ori_shape'), img_id)
                mask_scores = None if pred is None else pred.get('mask_scores')
                result['mask_scores'] = scores if mask_scores is None else \
                    to_numpy(mask_scores, np.float64).reshape(-1)
            gt = None
            if self._coco_api is None:
                gt = self._gt_of(sample, int(img_id))
            self.results.append((gt, result))

    @staticmethod
    def _pred_rles(masks: Any, ori_shape: Any, img_id: Any) -> list[dict]:
        """RLEs of predicted masks given as bool NxHxW (tensor, array, mask container) or as RLE dicts."""
        if masks is None:
            return []
        if isinstance(masks, (list, tuple)) and all(isinstance(m, dict) for m in masks):
            return [dict(size=list(m['size']), counts=m['counts'].decode('ascii')
                         if isinstance(m['counts'], bytes) else m['counts']) for m in masks]
        arr = masks_to_numpy(masks)
        if ori_shape is not None and len(arr) and tuple(arr.shape[1:]) != tuple(int(v) for v in ori_shape[:2]):
            raise ValueError(f'CocoMetric: pred_instances.masks of image {img_id} are {tuple(arr.shape[1:])} but '
                             f'must be at ori_shape {tuple(ori_shape[:2])} (resize them back before the metric)')
        return encode_masks(arr)

    def _gt_of(self, sample: DataSample, img_id: int) -> dict:
        """The sample's ground truth in original-image pixels, as plain dicts.

        Taken from the raw ``instances`` annotations when the sample carries them (exactly the file's boxes),
        else from ``gt_instances`` / ``ignored_instances`` mapped from the model-input frame back to
        ``ori_shape`` with ``scale_factor`` (masks: padding cropped, nearest-neighbour resize).
        """
        ori_shape = sample.get('ori_shape')
        if ori_shape is None:
            raise KeyError('CocoMetric without ann_file needs metainfo ori_shape (h, w) in every sample')
        height, width = int(ori_shape[0]), int(ori_shape[1])
        raw = sample.get('instances')
        anns = self._raw_anns(raw, height, width) if raw is not None else self._packed_anns(sample, height, width)
        if 'segm' in self.metrics and any('segmentation' not in a for a in anns):
            raise KeyError(f"CocoMetric: metric 'segm' without ann_file needs ground-truth masks (image {img_id})")
        return dict(img_id=img_id, height=height, width=width, anns=anns)

    @staticmethod
    def _raw_anns(raw: Sequence[dict], height: int, width: int) -> list[dict]:
        mask_util = _pycocotools()[0]
        anns = []
        for inst in raw:
            ann = dict(bbox=[float(v) for v in inst['bbox']], label=int(inst['bbox_label']),
                       iscrowd=int(bool(inst.get('ignore_flag', 0))))
            mask = inst.get('mask')
            if mask is not None:
                if isinstance(mask, dict):  # RLE, compressed or not
                    rle = mask if isinstance(mask['counts'], (str, bytes)) else \
                        mask_util.frPyObjects(mask, height, width)
                else:  # polygons [[x, y, ...], ...]
                    rle = mask_util.merge(mask_util.frPyObjects(mask, height, width))
                rle = dict(size=list(rle['size']), counts=rle['counts'])
                if isinstance(rle['counts'], bytes):
                    rle['counts'] = rle['counts'].decode('ascii')
                ann['segmentation'] = rle
            anns.append(ann)
        return anns

    @staticmethod
    def _packed_anns(sample: DataSample, height: int, width: int) -> list[dict]:
        img_shape = sample.get('img_shape') or (height, width)
        scale = sample.get('scale_factor')
        resized = tuple(int(v) for v in img_shape[:2]) != (height, width)
        anns = []
        for key, crowd in (('gt_instances', 0), ('ignored_instances', 1)):
            inst = instances_of(sample, key)
            boxes = boxes_of(inst)
            if len(boxes) == 0:
                continue
            if resized and scale is not None:
                boxes = boxes / np.array([scale[0], scale[1], scale[0], scale[1]], dtype=np.float64)
            labels = labels_of(inst, len(boxes))
            masks = inst.get('masks')
            rles = None
            if masks is not None:
                masks = masks_to_numpy(masks)
                if masks.shape[1:] != (height, width):
                    masks = masks[:, :int(img_shape[0]), :int(img_shape[1])]  # drop padding
                    masks = torch.nn.functional.interpolate(torch.from_numpy(masks[:, None].astype(np.uint8)),
                                                            size=(height, width), mode='nearest')[:, 0].numpy() > 0
                rles = encode_masks(masks)
            for i, (box, label) in enumerate(zip(boxes, labels)):
                ann = dict(bbox=box.tolist(), label=int(label), iscrowd=crowd)
                if rles is not None:
                    ann['segmentation'] = rles[i]
                anns.append(ann)
        return anns

    # -- evaluation -------------------------------------------------------------------------------
    def _classes(self) -> list[str] | None:
        meta = self.dataset_meta or {}
        classes = meta.get('classes')
        return None if classes is None else list(classes)

    def _cat_ids(self, coco: COCO) -> list[int]:
        """Category id of each label, from ``dataset_meta`` (``cat_ids``, else ``classes`` names) or the file."""
        meta = self.dataset_meta or {}
        if meta.get('cat_ids') is not None:
            return [int(c) for c in meta['cat_ids']]
        classes = self._classes()
        cats = list(coco.dataset.get('categories', []))
        if classes is None:
            ids = [c['id'] for c in cats]
            return sorted(ids) if self.sort_categories else ids
        by_name = {c['name']: c['id'] for c in cats}
        missing = [c for c in classes if c not in by_name]
        if missing:
            raise ValueError(f'CocoMetric: classes {missing} of dataset_meta are not categories of '
                             f'{self.ann_file!r} (it has {sorted(by_name)[:10]}...)')
        return [by_name[c] for c in classes]

    def _build_gt(self, gts: list[dict], preds: list[dict]) -> tuple[COCO, list[int]]:
        """A COCO ground-truth object from the samples (category id = label index); ann ids start at 1."""
        mask_util = _pycocotools()[0]
        classes = self._classes()
        if classes is None:
            top = max([a['label'] for g in gts for a in g['anns']] + [int(p['labels'].max()) for p in preds
                                                                     if len(p['labels'])] + [0])
            classes = [str(i) for i in range(top + 1)]
        images, annotations, seen = [], [], set()
        for g in gts:
            if g['img_id'] in seen:
                continue
            seen.add(g['img_id'])
            images.append(dict(id=g['img_id'], width=g['width'], height=g['height'], file_name=str(g['img_id'])))
            for a in g['anns']:
                if not 0 <= a['label'] < len(classes):
                    raise ValueError(f'CocoMetric: ground-truth label {a["label"]} of image {g["img_id"]} is '
                                     f'outside 0..{len(classes) - 1}')
                x1, y1, x2, y2 = a['bbox']
                ann = dict(id=len(annotations) + 1, image_id=g['img_id'], category_id=a['label'],
                           bbox=[x1, y1, x2 - x1, y2 - y1], iscrowd=a['iscrowd'])
                if 'segmentation' in a:
                    ann['segmentation'] = a['segmentation']
                    ann['area'] = float(mask_util.area(a['segmentation']))
                else:
                    ann['area'] = float((x2 - x1) * (y2 - y1))
                annotations.append(ann)
        coco = coco_from_dict(dict(images=images, annotations=annotations,
                                   categories=[dict(id=i, name=name) for i, name in enumerate(classes)]), 'CocoMetric')
        return coco, list(range(len(classes)))

    @staticmethod
    def _to_json(preds: list[dict], cat_ids: list[int], kind: str) -> list[dict]:
        """COCO result dicts of one metric type, in sample order then prediction order."""
        out = []
        for p in preds:
            labels = p['labels']
            if len(labels) and (labels.min() < 0 or labels.max() >= len(cat_ids)):
                raise ValueError(f'CocoMetric: predicted label {int(labels.max())} of image {p["img_id"]} has '
                                 f'no category (there are {len(cat_ids)})')
            boxes = _xyxy_to_xywh(p['bboxes'])
            scores = p['mask_scores'] if kind == 'segm' else p['scores']
            for i in range(len(boxes)):
                res = dict(image_id=p['img_id'], bbox=boxes[i].tolist(), score=float(scores[i]),
                           category_id=cat_ids[int(labels[i])])
                if kind == 'segm':
                    res['segmentation'] = p['masks'][i]
                out.append(res)
        return out

    @staticmethod
    def _load_results(coco_gt: COCO, dts: list[dict]) -> COCO:
        if dts:
            return quiet(coco_gt.loadRes, dts)[0]
        # loadRes cannot take an empty list; an empty result set evaluates to AP 0 where there is ground truth.
        return coco_from_dict(dict(images=list(coco_gt.dataset['images']), annotations=[],
                                   categories=list(coco_gt.dataset.get('categories', []))), 'CocoMetric')

    def _write(self, name: str, payload: list[dict]) -> str:
        path = f'{self.outfile_prefix}.{name}.json'
        folder = osp.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(payload, f)
        return path

    def compute_metrics(self, results: list) -> dict[str, Any]:
        gts = [g for g, _ in results]
        preds = [p for _, p in results]
        if self._coco_api is None:
            coco_gt, cat_ids = self._build_gt(gts, preds)
        else:
            coco_gt, cat_ids = self._coco_api, self._cat_ids(self._coco_api)
        img_ids = list(dict.fromkeys(p['img_id'] for p in preds))
        dts = {kind: self._to_json(preds, cat_ids, 'segm' if kind == 'segm' else 'bbox') for kind in self.metrics}
        if self.outfile_prefix:
            for kind, payload in dts.items():
                logger.info('CocoMetric: wrote %s', self._write(kind, payload))
        if self.format_only:
            return {}

        cocoeval_cls = _pycocotools()[2]
        out: dict[str, Any] = {}
        self.last_stats = {}
        for kind in self.metrics:
            if not dts[kind]:
                warnings.warn(f'CocoMetric: no {kind} predictions in the whole dataset; its AP / AR are 0',
                              stacklevel=2)
            coco_dt = self._load_results(coco_gt, dts[kind])
            coco_eval = cocoeval_cls(coco_gt, coco_dt, 'bbox' if kind == 'proposal' else kind)
            coco_eval.params.catIds = list(cat_ids)
            coco_eval.params.imgIds = img_ids
            coco_eval.params.maxDets = list(self.proposal_nums)
            coco_eval.params.iouThrs = self.iou_thrs
            if kind == 'proposal':
                coco_eval.params.useCats = 0
            quiet(coco_eval.evaluate)
            quiet(coco_eval.accumulate)
            _, text = quiet(coco_eval.summarize)
            logger.info('CocoMetric %s:\n%s', kind, text.rstrip())
            stats = np.asarray(coco_eval.stats, dtype=np.float64).copy()
            self.last_stats[kind] = stats
            items = self.metric_items
            if items is None:
                items = list(_AP_ITEMS) if kind != 'proposal' else [
                    k for k in self._stat_index if k.startswith('AR')]
            for item in items:
                key = item if kind == 'proposal' else f'{kind}_{item}'
                out[key] = round(float(stats[self._stat_index[item]]), 3)
            if self.classwise and kind != 'proposal':
                out.update(self._classwise(coco_gt, coco_eval, kind))
        return out

    def _classwise(self, coco_gt: COCO, coco_eval: COCOeval, kind: str) -> dict[str, float]:
        """Per-class AP@[.5:.95] (returned), with AP50 / AP75 in the logged table."""
        precision = coco_eval.eval['precision']  # [iou thr, recall thr, category, area range, max dets]
        iou_thrs = coco_eval.params.iouThrs

        def mean_ap(p: np.ndarray) -> float:
            p = p[p > -1]
            return float(np.mean(p)) if p.size else float('nan')

        out, rows = {}, []
        for k, cat_id in enumerate(coco_eval.params.catIds):
            name = coco_gt.cats[int(cat_id)]['name']
            ap = mean_ap(precision[:, :, k, 0, -1])
            row = [name, ap]
            for thr in (0.5, 0.75):
                t = np.where(np.isclose(iou_thrs, thr))[0]
                row.append(mean_ap(precision[t, :, k, 0, -1]) if t.size else float('nan'))
            rows.append(row)
            out[f'{kind}_{name}_precision'] = round(ap, 3)
        width = max([len('category')] + [len(r[0]) for r in rows])
        lines = [f'{"category":<{width}}  {"AP":>6}  {"AP50":>6}  {"AP75":>6}']
        lines += [f'{r[0]:<{width}}  {r[1]:6.3f}  {r[2]:6.3f}  {r[3]:6.3f}' for r in rows]
        logger.info('CocoMetric %s per class:\n%s', kind, '\n'.join(lines))
        return out

    def __repr__(self) -> str:
        return (f'CocoMetric(metric={self.metrics}, ann_file={self.ann_file!r}, classwise={self.classwise}, '
                f'prefix={self.prefix!r})')
