"""The best and the worst predicted images (``tools/analysis_tools/analyze_results.py``): a score per image from a
predictions pickle (``tools/test.py CONFIG CKPT --out results.pkl``) and the test dataset's ground truth, the
``topk`` best drawn to ``SHOW_DIR/good/`` and the ``topk`` worst to ``SHOW_DIR/bad/`` (ground truth and
predictions side by side, as ``tools/test.py --show-dir`` draws them, file ``<image name>_<score>.jpg``), and every
image's score in ``SHOW_DIR/scores.json`` (best first).

The score of an image, by task (the pickle's predictions say which):

* **detection**: its box mAP over IoU 0.50:0.05:0.95, computed as COCO does for one image: per class with ground
  truth, predictions matched greedily by score to the unmatched ground truth of highest IoU, crowd / ignored ground
  truths (intersection over the prediction >= the IoU threshold) neither hits nor misses, 101-point interpolated
  precision; the mean over those classes and the ten thresholds. Like COCO (and MMDetection's per-image mAP), a
  class the image has no ground truth of does not count; an image with no ground truth at all scores
  ``1 - its highest prediction score`` (1.0 without predictions), so confident false alarms rank worst.
* **textdet**: its hmean (ICDAR 2015 protocol, the config's ``HmeanIOUMetric`` settings) at the score threshold the
  metric picks over the whole set; 1.0 for an image without (cared-for) ground truth or predictions.
* **textrecog**: ``1 - N.E.D`` of the word (``OneMinusNEDMetric``: normalised edit distance of the lower-cased
  texts without symbols).
* **pose** (top-down: the samples of one image are its people): its OKS AP over OKS 0.50:0.05:0.95 with the
  dataset's ``sigmas`` and the annotated areas, matched as above (a prediction scores ``bbox_score x mean keypoint
  score``); people without an annotated keypoint do not count.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentParser, UserError
from .confusion import box_iof, box_iou, gt_arrays, pred_arrays
from .inputs import (add_cfg_options, add_prediction_args, build_dataset, check_predictions_fit, config_scope,
                     load_predictions, output_name, prediction_task, read_config)

__all__ = ['build_parser', 'main', 'run', 'average_precision', 'detection_image_score', 'keypoint_oks',
           'pose_image_score', 'IOU_THRESHOLDS']

#: COCO's IoU / OKS thresholds 0.50, 0.55, ..., 0.95
IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
_RECALLS = np.linspace(0.0, 1.0, 101)


def build_parser(prog: str = 'tools/analysis_tools/analyze_results.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Score every image of a predictions pickle against the test set of a '
                                              'config, and draw the best and the worst.')
    add_prediction_args(p)
    p.add_argument('show_dir', help='folder for good/, bad/ and scores.json')
    p.add_argument('--show', action='store_true', help='also show the pictures in a window (needs a display)')
    p.add_argument('--wait-time', type=float, default=0.0, help='seconds each shown picture stays (0: until a key)')
    p.add_argument('--topk', type=int, default=20, help='how many best and worst images to draw (default 20)')
    p.add_argument('--show-score-thr', type=float, default=0.0,
                   help='predictions (pose: keypoints) scoring below this are not drawn (default 0: all)')
    add_cfg_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str = 'tools/analysis_tools/analyze_results.py') -> list[dict]:
    return run(build_parser(prog).parse_args(argv))


# -- scores -------------------------------------------------------------------------------------------------------
def average_precision(similarity: np.ndarray, scores: np.ndarray, threshold: float,
                      ignore_overlap: np.ndarray | None = None) -> float:
    """COCO's 101-point interpolated AP of one class in one image.

    Args:
        similarity: G x P IoU / OKS of the counted ground truths (G >= 1) and the predictions.
        scores: P prediction scores; higher first, ties in index order.
        threshold: a prediction hits a ground truth with ``similarity >= threshold``.
        ignore_overlap: I x P overlap of ignored ground truths (crowd) with the predictions: a prediction that
            hits none of the counted ones but reaches ``threshold`` on one of these is left out.
    """
    sim = np.asarray(similarity, np.float64)
    n_gt = sim.shape[0]
    order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
    matched = np.zeros(n_gt, bool)
    hits: list[bool] = []
    for d in order:
        candidates = np.nonzero(~matched & (sim[:, d] >= threshold))[0]
        if len(candidates):
            matched[candidates[np.argmax(sim[candidates, d])]] = True
            hits.append(True)
        elif ignore_overlap is None or not (np.asarray(ignore_overlap)[:, d] >= threshold).any():
            hits.append(False)
    if not hits:
        return 0.0
    tp = np.cumsum(hits)
    fp = np.cumsum(np.logical_not(hits))
    recall = tp / n_gt
    precision = tp / (tp + fp)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the best precision at this recall or beyond
    idx = np.searchsorted(recall, _RECALLS, side='left')
    return float(np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0).mean())


def _no_ground_truth_score(scores: np.ndarray) -> float:
    return 1.0 - float(np.max(scores)) if len(scores) else 1.0


def detection_image_score(gt_boxes: np.ndarray, gt_labels: np.ndarray, gt_ignore: np.ndarray, boxes: np.ndarray,
                          scores: np.ndarray, labels: np.ndarray) -> float:
    """An image's box mAP@[.5:.95] (see the module docstring); boxes xyxy in one frame (original pixels)."""
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, np.int64).reshape(-1)
    gt_ignore = np.asarray(gt_ignore, bool).reshape(-1)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    classes = np.unique(gt_labels[~gt_ignore])
    if len(classes) == 0:
        return _no_ground_truth_score(scores)
    aps = []
    for c in classes:
        g, ig, p = (gt_labels == c) & ~gt_ignore, (gt_labels == c) & gt_ignore, labels == c
        iou = box_iou(gt_boxes[g], boxes[p])
        iof = box_iof(gt_boxes[ig], boxes[p]) if ig.any() else None
        aps += [average_precision(iou, scores[p], t, iof) for t in IOU_THRESHOLDS]
    return float(np.mean(aps))


def keypoint_oks(gt_kpts: np.ndarray, gt_vis: np.ndarray, gt_areas: np.ndarray, kpts: np.ndarray,
                 sigmas: np.ndarray) -> np.ndarray:
    """COCO's OKS (float64 G x P) of ground-truth poses (G x K x 2, visibility G x K, areas G) and predicted ones
    (P x K x 2), over each ground truth's visible keypoints, with the per-keypoint ``sigmas`` (K)."""
    g = np.asarray(gt_kpts, np.float64).reshape(len(gt_areas), -1, 2)
    p = np.asarray(kpts, np.float64).reshape(-1, g.shape[1], 2)
    vis = np.asarray(gt_vis, np.float64).reshape(g.shape[:2]) > 0
    var = (2 * np.asarray(sigmas, np.float64).reshape(-1)) ** 2
    d2 = ((g[:, None] - p[None]) ** 2).sum(-1)  # G x P x K
    e = d2 / var / (np.asarray(gt_areas, np.float64).reshape(-1, 1, 1) + np.spacing(1)) / 2
    count = vis.sum(-1, keepdims=True)
    return (np.exp(-e) * vis[:, None]).sum(-1) / np.maximum(count, 1)


def pose_image_score(gt_kpts: np.ndarray, gt_vis: np.ndarray, gt_areas: np.ndarray, kpts: np.ndarray,
                     scores: np.ndarray, sigmas: np.ndarray) -> float:
    """An image's OKS AP@[.5:.95] (see the module docstring)."""
    gt_vis = np.asarray(gt_vis, np.float64).reshape(len(gt_areas), -1)
    counted = (gt_vis > 0).any(-1)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if not counted.any():
        return _no_ground_truth_score(scores)
    oks = keypoint_oks(np.asarray(gt_kpts)[counted], gt_vis[counted], np.asarray(gt_areas)[counted], kpts, sigmas)
    return float(np.mean([average_precision(oks, scores, t) for t in IOU_THRESHOLDS]))


# -- per task: the images, their scores and what to draw -----------------------------------------------------------
class _Image:
    """One scored image: where it is, its score, and the DataSample to draw (made when drawn)."""

    def __init__(self, index: int, img_path: Any, score: float, draw: Any) -> None:
        self.index, self.img_path, self.score, self._draw = index, img_path, float(score), draw

    def sample(self):
        return self._draw()


def _numpy(value: Any) -> np.ndarray:
    from ..structures import to_numpy  # deferred: structures load torch (the tools parse their flags first)
    return to_numpy(value)


def _frame(info: dict) -> dict:
    return dict(img_path=info.get('img_path'))


def _gt_masks(instances: list[dict], hw: tuple[int, int] | None) -> np.ndarray | None:
    from ..structures import polygons_to_bitmap, rle_to_bitmap  # deferred: structures load torch
    masks = [inst.get('mask') for inst in instances]
    if hw is None or not masks or any(m is None for m in masks):
        return None
    out = [rle_to_bitmap(m, *hw) if isinstance(m, dict) else polygons_to_bitmap(m, *hw) for m in masks]
    return np.stack(out).astype(bool)


def _detection_images(dataset, predictions: Sequence[dict], where: str) -> list[_Image]:
    from ..structures import DataSample, InstanceData  # deferred: structures load torch
    images = []
    num_classes = len(dataset.metainfo.get('classes') or ()) or None
    for i, pred in enumerate(predictions):
        info = dataset.get_data_info(i)
        gt_boxes, gt_labels, gt_ignore = gt_arrays(info, num_classes, i)
        boxes, scores, labels = pred_arrays(pred, i, where)
        score = detection_image_score(gt_boxes, gt_labels, gt_ignore, boxes, scores, labels)

        def draw(info=info, pred=pred, keep=~gt_ignore, boxes=gt_boxes, labels=gt_labels):
            gt = dict(bboxes=boxes[keep].astype(np.float32), labels=labels[keep])
            hw = (info.get('height'), info.get('width'))
            masks = _gt_masks([inst for inst, k in zip(info.get('instances') or [], keep) if k],
                              hw if None not in hw else None)
            if masks is not None:
                gt['masks'] = masks
            inst = {k: _numpy(v) for k, v in pred['pred_instances'].items() if k in ('bboxes', 'scores', 'labels',
                                                                                     'masks')}
            return DataSample(metainfo=_frame(info), gt_instances=InstanceData(**gt),
                              pred_instances=InstanceData(**inst))
        images.append(_Image(i, info.get('img_path'), score, draw))
    return images


def _hmean_metric(cfg):
    """The config's HmeanIOUMetric (test_evaluator, alone, in a list or an evaluator), else a default one."""
    from ..registry import METRICS  # deferred: the registry imports the tasks lazily

    def find(node: Any):
        node = node.to_dict() if hasattr(node, 'to_dict') else node
        if isinstance(node, dict):
            if str(node.get('type', '')).rsplit('.', 1)[-1] == 'HmeanIOUMetric':
                return node
            return find(node.get('metrics', node.get('metric')))
        if isinstance(node, (list, tuple)):
            return next((m for m in map(find, node) if m is not None), None)
        return None
    metric_cfg = dict(find(cfg.get('test_evaluator')) or dict(type='HmeanIOUMetric'))
    metric_cfg.pop('prefix', None)
    with config_scope(cfg):
        return METRICS.build(metric_cfg, key_path='test_evaluator')


def _textdet_images(dataset, predictions: Sequence[dict], cfg, where: str) -> list[_Image]:
    from ..structures import DataSample, InstanceData  # deferred: structures load torch
    metric = _hmean_metric(cfg)
    samples = []
    for i, pred in enumerate(predictions):
        info = dataset.get_data_info(i)
        instances = info.get('instances') or []
        gt = InstanceData(polygons=[np.asarray(inst['polygon'], np.float32) for inst in instances],
                          ignored=np.asarray([bool(inst.get('ignore', False)) for inst in instances], bool),
                          texts=[str(inst.get('text') or '') for inst in instances])
        inst = pred.get('pred_instances') or {}
        polys = [np.asarray(_numpy(p), np.float32).reshape(-1) for p in (inst.get('polygons') or [])]
        scores = inst.get('scores')
        scores = np.ones(len(polys), np.float32) if scores is None else _numpy(scores).astype(np.float32).reshape(-1)
        if len(scores) != len(polys):
            raise UserError(f'{where}: sample {i} has {len(polys)} polygons but {len(scores)} scores')
        sample = DataSample(metainfo=_frame(info), gt_instances=gt,
                            pred_instances=InstanceData(polygons=polys, scores=scores))
        metric.process(None, [sample])
        samples.append((info, sample))
    best = metric.compute_metrics(list(metric.results))['best_score_thr']
    k = int(np.argmin(np.abs(np.asarray(metric.pred_score_thrs) - best)))
    images = []
    for i, ((info, sample), r) in enumerate(zip(samples, metric.results)):
        tp, n_pred, n_gt = float(r['tp'][k]), float(r['n_pred'][k]), float(r['n_gt'])
        score = 1.0 if n_pred + n_gt == 0 else 2 * tp / (n_pred + n_gt)
        images.append(_Image(i, info.get('img_path'), score, lambda s=sample: s))
    return images


def _textrecog_images(dataset, predictions: Sequence[dict], where: str) -> list[_Image]:
    from ..structures import DataSample  # deferred: structures load torch
    from ..tasks.textrecog.evaluation import OneMinusNEDMetric  # deferred: loads torch
    metric = OneMinusNEDMetric()
    images = []
    for i, pred in enumerate(predictions):
        info = dataset.get_data_info(i)
        instances = info.get('instances') or [{}]
        gt_text = instances[0].get('text')
        if gt_text is None:
            raise UserError(f'dataset sample {i} ({info.get("img_path")}) has no text to score the prediction against')
        if pred.get('pred_text') is None:
            raise UserError(f'{where}: sample {i} has no pred_text (keys: {sorted(pred)})')
        sample = DataSample(metainfo=_frame(info), gt_text=str(gt_text), pred_text=str(pred['pred_text']))
        if pred.get('pred_score') is not None:
            sample.pred_score = float(np.asarray(_numpy(pred['pred_score']), np.float64).reshape(-1)[:1].sum())
        metric.process(None, [sample])
        images.append(_Image(i, info.get('img_path'), 1.0 - metric.results[-1]['ned'], lambda s=sample: s))
    return images


def _pose_images(dataset, predictions: Sequence[dict], where: str) -> list[_Image]:
    from ..structures import DataSample, InstanceData  # deferred: structures load torch
    sigmas = dataset.metainfo.get('sigmas')
    if sigmas is None:
        raise UserError('the test dataset has no keypoint sigmas in its metainfo (dataset_info sigmas=[...]); OKS '
                        'needs them')
    sigmas = np.asarray(sigmas, np.float64).reshape(-1)
    groups: dict[Any, list[int]] = {}
    if getattr(dataset, 'bbox_file', None):
        raise UserError('the test dataset reads detected boxes (bbox_file): per-image OKS needs the ground-truth '
                        'people; set test_dataloader.dataset.bbox_file=None')
    infos = [dataset.get_data_info(i) for i in range(len(predictions))]
    for i, info in enumerate(infos):
        groups.setdefault(info.get('img_id', info.get('img_path')), []).append(i)
    images = []
    for members in groups.values():
        gk, gv, ga, gb, pk, ps, pscore, pb = [], [], [], [], [], [], [], []
        for i in members:
            info, pred = infos[i], predictions[i].get('pred_instances')
            k = len(sigmas)
            kp = np.asarray(info.get('keypoints'), np.float64).reshape(-1, k, 2)
            gk.append(kp)
            gv.append(np.asarray(info.get('keypoints_visible', np.ones(kp.shape[:2])), np.float64).reshape(-1, k))
            bbox = np.asarray(info.get('bbox', np.zeros((1, 4))), np.float64).reshape(-1, 4)
            gb.append(bbox)
            area = info.get('area')
            area = (bbox[:, 2] - bbox[:, 0]) * (bbox[:, 3] - bbox[:, 1]) if area is None else \
                np.asarray(area, np.float64).reshape(-1)
            ga.append(area)
            if pred is None or pred.get('keypoints') is None:
                raise UserError(f'{where}: sample {i} has no pred_instances.keypoints')
            kpts = _numpy(pred['keypoints']).astype(np.float64).reshape(-1, k, 2)
            kscores = pred.get('keypoint_scores')
            kscores = np.ones(kpts.shape[:2]) if kscores is None else _numpy(kscores).astype(np.float64).reshape(
                kpts.shape[:2])
            bscores = pred.get('bbox_scores')
            bscores = np.ones(len(kpts)) if bscores is None else _numpy(bscores).astype(np.float64).reshape(-1)
            pk.append(kpts)
            ps.append(kscores)
            pscore.append(bscores * kscores.mean(-1))
            pb.append(_numpy(pred['bboxes']).astype(np.float64).reshape(-1, 4) if pred.get('bboxes') is not None
                      else np.zeros((len(kpts), 4)))
        gk, gv, ga, gb = np.concatenate(gk), np.concatenate(gv), np.concatenate(ga), np.concatenate(gb)
        pk, ps, pscore, pb = np.concatenate(pk), np.concatenate(ps), np.concatenate(pscore), np.concatenate(pb)
        score = pose_image_score(gk, gv, ga, pk, pscore, sigmas)

        def draw(info=infos[members[0]], gk=gk, gv=gv, gb=gb, pk=pk, ps=ps, pb=pb):
            return DataSample(metainfo=_frame(info),
                              gt_instances=InstanceData(keypoints=gk.astype(np.float32),
                                                        keypoints_visible=gv.astype(np.float32),
                                                        bboxes=gb.astype(np.float32)),
                              pred_instances=InstanceData(keypoints=pk.astype(np.float32),
                                                          keypoint_scores=ps.astype(np.float32),
                                                          bboxes=pb.astype(np.float32)))
        images.append(_Image(members[0], infos[members[0]].get('img_path'), score, draw))
    return images


def _visualizer(task: str, metainfo: dict):
    # deferred (each branch): the task visualizers load torch; the tools parse their flags first
    if task == 'detection':
        from ..tasks.detection.visualization import DetLocalVisualizer  # deferred, see above
        vis = DetLocalVisualizer(name='analyze_results')
    elif task == 'textdet':
        from ..tasks.textdet.visualization import TextDetLocalVisualizer  # deferred, see above
        vis = TextDetLocalVisualizer(name='analyze_results')
    elif task == 'textrecog':
        from ..tasks.textrecog.visualization import TextRecogLocalVisualizer  # deferred, see above
        vis = TextRecogLocalVisualizer(name='analyze_results')
    else:
        from ..tasks.pose.visualization import PoseLocalVisualizer  # deferred, see above
        vis = PoseLocalVisualizer(name='analyze_results')
    vis.dataset_meta = dict(metainfo)
    return vis


def _read_rgb(image: _Image, dataset) -> np.ndarray:
    """The image as H x W x 3 uint8 RGB: read from its file, or (an LMDB sample) through the dataset."""
    from ..fileio.image import read_image  # deferred: loads OpenCV (the tools parse their flags first)
    path = image.img_path
    if isinstance(path, str) and '://' in path:
        from .browse import packed_image  # deferred: only samples without a file need the dataset's reading
        return packed_image(dataset[image.index]['inputs'])
    return np.ascontiguousarray(read_image(path, 'analyze_results')[0][..., ::-1])


# -- the tool -----------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> list[dict]:
    """Score, rank and draw as the parsed ``args`` say; returns the scores written (best first)."""
    from ..fileio.image import imwrite  # deferred: loads OpenCV (the tools parse their flags first)
    if args.topk < 1:
        raise UserError(f'--topk must be a positive number, got {args.topk}')
    cfg = read_config(args.config, args.cfg_options)
    predictions = load_predictions(args.prediction_path)
    task = prediction_task(predictions, args.prediction_path)
    dataset = build_dataset(cfg, 'test')
    check_predictions_fit(predictions, dataset, args.prediction_path, args.config)
    where = str(args.prediction_path)
    if task == 'detection':
        images = _detection_images(dataset, predictions, where)
    elif task == 'textdet':
        images = _textdet_images(dataset, predictions, cfg, where)
    elif task == 'textrecog':
        images = _textrecog_images(dataset, predictions, where)
    else:
        images = _pose_images(dataset, predictions, where)
    ranked = sorted(images, key=lambda im: (-im.score, im.index))
    scores = [dict(image=Path(str(im.img_path)).name, img_path=str(im.img_path), index=im.index,
                   score=round(im.score, 6)) for im in ranked]
    show_dir = Path(args.show_dir)
    show_dir.mkdir(parents=True, exist_ok=True)
    (show_dir / 'scores.json').write_text(json.dumps(scores, indent=1) + '\n')
    vis = _visualizer(task, dataset.metainfo)
    window = None
    if args.show:
        from ..apis.display import FrameWindow  # deferred: only --show opens a window
        window = FrameWindow('analyze_results', wait_time=args.wait_time)
    k = min(args.topk, len(ranked))
    for folder, chosen in (('good', ranked[:k]), ('bad', ranked[::-1][:k])):
        taken: set[str] = set()
        for im in chosen:
            image = _read_rgb(im, dataset)
            if task in ('detection', 'textdet'):  # lines that stay visible in small pictures and after JPEG
                vis.line_width = max(2, round(max(image.shape[:2]) / 320))
            picture = vis.draw_sample(image, im.sample(), draw_gt=True, draw_pred=True,
                                      pred_score_thr=args.show_score_thr)
            bgr = np.ascontiguousarray(picture[..., ::-1])
            imwrite(show_dir / folder / output_name(im.img_path, im.index, taken, f'_{im.score:.3f}.jpg'), bgr,
                    'analyze_results')
            if window is not None:
                window.show(bgr)
    if window is not None:
        window.close()
    mean = float(np.mean([im.score for im in images]))
    print(f'analyze_results: {len(images)} images scored ({task}; mean {mean:.4f}); the {k} best drawn to '
          f'{show_dir / "good"}, the {k} worst to {show_dir / "bad"}, every score in {show_dir / "scores.json"}')
    return scores
