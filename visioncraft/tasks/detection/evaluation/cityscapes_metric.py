"""Cityscapes instance-level results: the txt / png files of the official benchmark, and (with the optional
``cityscapesscripts`` package) its AP.

For each image ``<dir>/<city>_<seq>_<frame>_leftImg8bit.png`` the metric writes ``<basename>_pred.txt`` with one
line per predicted instance::

    <basename>_<i>_<class name>.png <Cityscapes label id> <score>

and the named PNG: a single-channel uint8 mask at the original image size, 1 on the instance's pixels and 0
elsewhere (the official scripts count any non-zero pixel as the instance). The label id is the regular Cityscapes
id (person 24, rider 25, car 26, truck 27, bus 28, train 31, motorcycle 32, bicycle 33), looked up by the class
name in ``dataset_meta['classes']``.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import os.path as osp
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from visioncraft import dist
from visioncraft.evaluation.metric import BaseMetric
from visioncraft.fileio.backend import check_backend_args
from visioncraft.fileio.image import imwrite
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, to_numpy

from ..converters import CITYSCAPES_CLASSES
from ._utils import instances_of, labels_of, masks_to_numpy

__all__ = ['CityscapesMetric']

logger = logging.getLogger(__name__)

_NEEDS_SCRIPTS = ("CityscapesMetric: computing the Cityscapes AP (format_only=False) needs the optional "
                  "'cityscapesscripts' package (pip install cityscapesscripts), which is not installed. Either set "
                  "format_only=True (on the command line: --format-only --options txtfile_prefix=DIR) to only write "
                  "the txt / png files for the official evaluation server, or evaluate box and mask AP with "
                  "CocoMetric (metric=['bbox', 'segm']) on the COCO-converted annotations "
                  "(tools/dataset_converters/cityscapes.py writes annotations/instancesonly_filtered_gtFine_*.json)")


def _cityscapes_scripts():
    """``(evalInstanceLevelSemanticLabeling module, labels module)`` of cityscapesscripts, or None when it is not
    installed."""
    try:
        import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval
        import cityscapesscripts.helpers.labels as cs_labels
    except ImportError:
        return None
    return cs_eval, cs_labels


def _decode_rles(masks: Sequence[dict]) -> np.ndarray:
    from visioncraft.evaluation.coco_utils import pycocotools
    mask_util = pycocotools('CityscapesMetric')[0]
    rles = [dict(m, counts=m['counts'].encode('ascii') if isinstance(m['counts'], str) else m['counts'])
            for m in masks]
    return mask_util.decode(rles).transpose(2, 0, 1).astype(bool)


@METRICS.register_module(name=['CityscapesMetric', 'CityScapesMetric'])
class CityscapesMetric(BaseMetric):
    """Cityscapes instance segmentation: write the official result files and, unless ``format_only``, compute
    the official AP with cityscapesscripts (an optional dependency; without it only ``format_only=True`` works).

    Each sample needs metainfo ``img_path`` (a Cityscapes ``*_leftImg8bit.png`` file; its basename names the result
    files) and ``pred_instances`` with ``labels`` (0..C-1, indexing ``dataset_meta['classes']``), ``scores`` (or
    ``mask_scores``, preferred when present) and ``masks`` (bool N x H x W at ``ori_shape``, a tensor / array /
    mask container, or COCO RLE dicts).

    Args:
        outfile_prefix: MMDetection 3.x: the files go in ``<outfile_prefix>/results/``, which is emptied when the
            metric is built. None (only when evaluating) writes them to a temporary folder.
        txtfile_prefix: MMDetection 2.x (``--options txtfile_prefix=DIR``): the files go in ``DIR/`` itself,
            which is not emptied. Give one of ``outfile_prefix`` / ``txtfile_prefix`` at most.
        seg_prefix: the ``gtFine/<split>`` folder holding ``<city>/<name>_gtFine_instanceIds.png``; None takes
            the ground truth next to the image (``leftImg8bit`` -> ``gtFine`` in ``img_path``). Used only when
            evaluating.
        format_only: only write the files (e.g. for the test-server submission) and return ``{}``; needs a
            prefix.
        keep_results: keep the files after evaluating. Default: kept when a prefix is given, removed when they
            went to a temporary folder. False with ``format_only`` is an error.
        classwise: also return ``'{class}_AP'`` and ``'{class}_AP@50'`` per Cityscapes class (NaN for a class
            without ground truth).
        dump_matches: also write the prediction / ground-truth matches to ``matches.json`` in the results folder.
        collect_device, prefix: see :class:`~visioncraft.evaluation.BaseMetric` (default prefix
            ``'cityscapes'``).
        file_client_args, backend_args: the file backend (MMDetection <= 3.0.0rc6 / later spelling): local files
            only.

    Returned keys (before the prefix): ``mAP`` (AP over IoU 0.50:0.05:0.95, averaged over the 8 classes) and
    ``AP@50``, as cityscapesscripts computes them.
    """

    default_prefix = 'cityscapes'

    def __init__(self, outfile_prefix: str | None = None, seg_prefix: str | None = None, format_only: bool = False,
                 keep_results: bool | None = None, classwise: bool = False, dump_matches: bool = False,
                 collect_device: str = 'cpu', prefix: str | None = None, file_client_args: dict | None = None,
                 backend_args: dict | None = None, txtfile_prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, backend_args=backend_args)
        check_backend_args(file_client_args, 'CityscapesMetric', 'file_client_args')
        self.format_only = bool(format_only)
        if outfile_prefix and txtfile_prefix:
            raise ValueError(f'CityscapesMetric: give outfile_prefix (files in <outfile_prefix>/results/) or '
                             f'txtfile_prefix (files in that folder), not both: got {outfile_prefix!r} and '
                             f'{txtfile_prefix!r}')
        if self.format_only and not (outfile_prefix or txtfile_prefix):
            raise ValueError('CityscapesMetric: format_only=True only writes the txt / png result files, so it needs '
                             "the folder: outfile_prefix (files in <outfile_prefix>/results/) or txtfile_prefix "
                             "(e.g. txtfile_prefix='./mask_rcnn_cityscapes_test_results')")
        if self.format_only and keep_results is False:
            raise ValueError('CityscapesMetric: format_only=True writes the result files to keep them; '
                             'keep_results=False would remove them')
        if not self.format_only and _cityscapes_scripts() is None:
            raise ImportError(_NEEDS_SCRIPTS)  # at build time, not after a whole test epoch
        self.seg_prefix = seg_prefix
        self.classwise = bool(classwise)
        self.dump_matches = bool(dump_matches)
        self._tmp_dir = None
        if txtfile_prefix:
            self.outfile_prefix = str(txtfile_prefix)
            self.results_dir = osp.expanduser(str(txtfile_prefix))
        elif outfile_prefix:
            self.outfile_prefix = str(outfile_prefix)
            self.results_dir = osp.join(osp.expanduser(str(outfile_prefix)), 'results')
            if osp.isdir(self.results_dir) and dist.is_main_process():
                logger.info(f'CityscapesMetric: removing the previous results in {self.results_dir}')
                shutil.rmtree(self.results_dir)
        else:
            if keep_results:
                raise ValueError('CityscapesMetric: keep_results=True needs outfile_prefix or txtfile_prefix (the '
                                 'files would go to a temporary folder)')
            self._tmp_dir = tempfile.TemporaryDirectory(prefix='cityscapes_results_')
            self.outfile_prefix = None
            self.results_dir = self._tmp_dir.name
        self.keep_results = self._tmp_dir is None if keep_results is None else bool(keep_results)
        os.makedirs(self.results_dir, exist_ok=True)

    def __del__(self) -> None:
        tmp = getattr(self, '_tmp_dir', None)
        if tmp is not None:
            tmp.cleanup()

    # -- per batch --------------------------------------------------------------------------------
    def _label_ids(self) -> list[tuple[str, int]]:
        """``(file-safe class name, Cityscapes label id)`` of each class index."""
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise KeyError("CityscapesMetric: dataset_meta['classes'] is not set: the class names give the "
                           'Cityscapes label ids')
        scripts = _cityscapes_scripts()
        out = []
        for name in classes:
            if name in CITYSCAPES_CLASSES:
                out.append((name, CITYSCAPES_CLASSES[name]))
            elif scripts is not None and name in scripts[1].name2label:
                out.append((name.replace(' ', '_'), int(scripts[1].name2label[name].id)))
            else:
                raise KeyError(f"CityscapesMetric: class {name!r} of dataset_meta['classes'] is not a Cityscapes "
                               f'class with instances; expected names among {list(CITYSCAPES_CLASSES)}')
        return out

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Write each sample's ``<basename>_pred.txt`` and mask PNGs; keep ``(gt file, txt file)``."""
        label_ids = self._label_ids()
        for sample in data_samples:
            img_path = sample.get('img_path')
            if not img_path:
                raise KeyError('CityscapesMetric: every data sample needs metainfo img_path (its basename names '
                               'the result files)')
            basename = osp.splitext(osp.basename(str(img_path)))[0]
            pred = instances_of(sample, 'pred_instances')
            masks = self._masks(pred, sample.get('ori_shape'), img_path)
            n = len(masks)
            labels = labels_of(pred, n)
            scores = None if pred is None else pred.get('mask_scores')
            if scores is None:
                scores = None if pred is None else pred.get('scores')
            scores = np.ones(n) if scores is None and n == 0 else scores
            if scores is None:
                raise KeyError(f'CityscapesMetric: pred_instances of {img_path} have masks but no scores')
            scores = to_numpy(scores, np.float64).reshape(-1)
            if not len(labels) == len(scores) == n:
                raise ValueError(f'CityscapesMetric: pred_instances of {img_path} have {n} masks, {len(labels)} '
                                 f'labels and {len(scores)} scores; they must match')
            bad = [int(v) for v in labels if not 0 <= v < len(label_ids)]
            if bad:
                raise ValueError(f'CityscapesMetric: pred_instances.labels {bad} of {img_path} are outside the '
                                 f'{len(label_ids)} classes of dataset_meta')
            os.makedirs(self.results_dir, exist_ok=True)
            lines = []
            for i, (label, mask, score) in enumerate(zip(labels, masks, scores)):
                name, label_id = label_ids[int(label)]
                png = f'{basename}_{i}_{name}.png'
                imwrite(osp.join(self.results_dir, png), mask.astype(np.uint8), who='CityscapesMetric')
                lines.append(f'{png} {label_id} {float(score)!r}\n')
            pred_txt = osp.join(self.results_dir, f'{basename}_pred.txt')
            with open(pred_txt, 'w', encoding='utf-8') as f:
                f.writelines(lines)
            self.results.append(dict(img_path=str(img_path), pred_txt=pred_txt))

    @staticmethod
    def _masks(pred: Any, ori_shape: Any, img_path: Any) -> np.ndarray:
        masks = None if pred is None else pred.get('masks')
        if masks is None:
            if pred is not None and len(labels_of(pred, 0)):
                raise KeyError(f'CityscapesMetric: pred_instances of {img_path} have no masks (the Cityscapes '
                               'results are instance masks: test an instance segmentation model)')
            return np.zeros((0, 1, 1), dtype=bool)
        if isinstance(masks, (list, tuple)) and masks and all(isinstance(m, dict) for m in masks):
            arr = _decode_rles(masks)
        elif isinstance(masks, (list, tuple)) and not masks:
            return np.zeros((0, 1, 1), dtype=bool)
        else:
            arr = masks_to_numpy(masks)
        if arr.ndim != 3:
            raise ValueError(f'CityscapesMetric: pred_instances.masks of {img_path} must be N x H x W, got shape '
                             f'{tuple(arr.shape)}')
        if ori_shape is not None and len(arr) and tuple(arr.shape[1:]) != tuple(int(v) for v in ori_shape[:2]):
            raise ValueError(f'CityscapesMetric: pred_instances.masks of {img_path} are {tuple(arr.shape[1:])} but '
                             f'must be at ori_shape {tuple(ori_shape[:2])} (resize them back before the metric)')
        return arr

    # -- at the end -------------------------------------------------------------------------------
    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        if self.format_only:
            logger.info(f'CityscapesMetric: the txt / png result files of {len(results)} images are in '
                        f'{self.results_dir}')
            return {}
        try:
            return self._evaluate(results)
        finally:
            if not self.keep_results:
                self._remove_files(results)

    def _gt_file(self, img_path: str) -> str:
        """The ``*_gtFine_instanceIds.png`` of a ``*_leftImg8bit.png`` image."""
        name = osp.basename(img_path).replace('_leftImg8bit', '_gtFine_instanceIds')
        name = osp.splitext(name)[0] + '.png'
        if self.seg_prefix is not None:
            return osp.join(self.seg_prefix, name.split('_')[0], name)
        parent = osp.dirname(img_path).replace('leftImg8bit', 'gtFine')
        return osp.join(parent, name)

    def _evaluate(self, results: list[dict]) -> dict[str, float]:
        scripts = _cityscapes_scripts()
        if scripts is None:
            raise ImportError(_NEEDS_SCRIPTS)
        cs_eval = scripts[0]
        gt_files = [self._gt_file(r['img_path']) for r in results]
        missing = [f for f in gt_files if not osp.isfile(f)]
        if missing:
            where = f'seg_prefix {self.seg_prefix!r}' if self.seg_prefix is not None else 'the images\' gtFine folder'
            raise FileNotFoundError(f'CityscapesMetric: {len(missing)} ground-truth files are missing under {where}, '
                                    f'e.g. {missing[0]}')
        args = copy.copy(cs_eval.args)
        args.predictionPath = osp.abspath(self.results_dir)
        args.predictionWalk = None
        args.JSONOutput = False
        args.colorized = False
        args.quiet = True
        args.gtInstancesFile = osp.join(self.results_dir, 'gtInstances.json')
        if osp.isfile(args.gtInstancesFile):  # a cache of an earlier run, maybe of other images
            os.remove(args.gtInstancesFile)
        cs_eval.setInstanceLabels(args)
        gt_instances = cs_eval.getGtInstances(gt_files, args)
        matches = cs_eval.matchGtWithPreds([r['pred_txt'] for r in results], gt_files, gt_instances, args)
        if self.dump_matches:
            cs_eval.writeDict2JSON(matches, osp.join(self.results_dir, 'matches.json'))
        averages = cs_eval.computeAverages(cs_eval.evaluateMatches(matches, args), args)
        metrics = {'mAP': float(averages['allAp']), 'AP@50': float(averages['allAp50%'])}
        if self.classwise:
            for name, res in averages['classes'].items():
                metrics[f'{name}_AP'] = float(res['ap'])
                metrics[f'{name}_AP@50'] = float(res['ap50%'])
        logger.info('CityscapesMetric: ' + ', '.join(f'{k}={v:.3f}' if not math.isnan(v) else f'{k}=nan'
                                                     for k, v in metrics.items()))
        return metrics

    def _remove_files(self, results: list[dict]) -> None:
        """Remove the files written for ``results`` (and the cache), leaving the folder's other files."""
        for r in results:
            txt = r['pred_txt']
            if not osp.isfile(txt):
                continue
            with open(txt, encoding='utf-8') as f:
                pngs = [line.split(' ', 1)[0] for line in f if line.strip()]
            for png in pngs:
                path = osp.join(osp.dirname(txt), png)
                if osp.isfile(path):
                    os.remove(path)
            os.remove(txt)
        for extra in ('gtInstances.json',):
            path = osp.join(self.results_dir, extra)
            if osp.isfile(path):
                os.remove(path)

    def __repr__(self) -> str:
        return (f'CityscapesMetric(results_dir={self.results_dir!r}, format_only={self.format_only}, '
                f'prefix={self.prefix!r})')
