"""TopdownPoseEstimator: one person crop in, its keypoints out (backbone -> neck -> head, MMPose's layout)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from visioncraft.models.assembly import assemble
from visioncraft.models.base import BaseModel
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData, to_numpy

from ..datasets.metainfo import parse_pose_metainfo

__all__ = ['TopdownPoseEstimator', 'input_to_image_coords']

_DEFAULT_TEST_CFG = dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True, output_heatmaps=False)


def input_to_image_coords(keypoints: np.ndarray, input_size: np.ndarray, input_center: np.ndarray,
                          input_scale: np.ndarray, udp: np.ndarray | bool = False) -> np.ndarray:
    """Map keypoints from input-crop pixels back to image pixels (no rotation: the test-time affine has none).

    ``kpts_img = kpts_input / input_size * input_scale + input_center - 0.5 * input_scale`` (MMPose's), or, for crops
    made with ``TopdownAffine(use_udp=True)`` (``udp`` True for that sample), the exact inverse of the UDP warp:
    ``(kpts_input - (input_size - 1) / 2) * input_scale / (input_size - 1) + input_center`` (MMPose uses the first
    formula for both, half an input pixel off for UDP crops).

    Args:
        keypoints: float (B, N, K, 2) in input pixels (x, y).
        input_size: (B, 2) the crop size (w, h); input_center, input_scale: (B, 2) image pixels, the crop's centre
            and its (w, h) in the image (``TopdownAffine`` writes all three).
        udp: bool, or (B,) bools: which samples were warped with UDP.
    Returns: float32 (B, N, K, 2) in image pixels.
    """
    size, center, scale = (np.asarray(a, np.float32)[:, None, None, :] for a in (input_size, input_center,
                                                                                 input_scale))
    plain = keypoints / size * scale + center - 0.5 * scale
    udp = np.broadcast_to(np.asarray(udp, bool), (keypoints.shape[0],))
    if udp.any():
        exact = (keypoints - (size - 1) * 0.5) * scale / np.maximum(size - 1, 1) + center
        plain = np.where(udp[:, None, None, None], exact, plain)
    return plain.astype(np.float32)


@MODELS.register_module()
class TopdownPoseEstimator(BaseModel):
    """A top-down pose estimator: each input is one person crop of ``input_size`` made by ``TopdownAffine``.

    Args:
        backbone: config or module returning a tuple of feature maps (e.g. ``ResNet`` with ``out_indices=(3,)``).
        neck: optional config or module applied to the backbone's features.
        head: a pose head (``HeatmapHead``, ``RTMCCHead`` ...) with ``forward`` / ``loss`` / ``predict``; its
            ``in_channels`` defaults to the backbone's (neck's) last ``out_channels``.
        train_cfg: passed to ``head.loss``.
        test_cfg: ``flip_test`` (also run the horizontally flipped crops and average, default True),
            ``flip_mode`` ('heatmap' | 'udp' | 'udp_combined'; the SimCC heads use their own), ``shift_heatmap``
            (True), ``output_heatmaps`` (False: with True each sample also gets ``pred_heatmaps`` (K, H, W)),
            ``output_keypoint_indices`` (None: a list of keypoint indices the predictions keep, in that order,
            e.g. the COCO 17 of a model trained on the 19 COCO + AIC keypoints; heatmaps with K channels too).
        data_preprocessor: default ``PoseDataPreprocessor`` with ImageNet mean / std and ``bgr_to_rgb``.
        metainfo: optional dataset metainfo (``dict(from_file='configs/_base_/datasets/coco.py')`` or an
            already parsed one) kept as :attr:`dataset_meta`: the layout of the model's keypoints, so its
            ``flip_indices`` replace the samples' in flip test (as MMPose's model metainfo overrides the data's:
            a 19-keypoint COCO + AIC model validated on 17-keypoint COCO samples flips its 19 channels).
        init_cfg: unused (the backbone's own ``init_cfg`` loads pretrained weights in :meth:`init_weights`).

    ``forward(inputs, data_samples, mode)`` with ``inputs`` float (B, 3, H, W) (normalised crops):

    * ``'loss'``: the head's losses (``loss_kpt``, ``acc_pose``); samples need the codec's targets.
    * ``'predict'``: the samples with ``pred_instances = InstanceData(keypoints=np.float32 (1, K, 2) in image
      pixels, keypoint_scores (1, K), keypoints_visible (1, K) (the head's, e.g. ``VisPredictHead``'s
      visibility probabilities, else the scores), bboxes (1, 4) xyxy image pixels,
      bbox_scores (1,))`` (numpy, as MMPose) and with ``output_heatmaps`` ``pred_heatmaps`` float tensor
      (K, H, W). Input pixels map back through the metainfo ``input_size``, ``input_center``, ``input_scale``
      (:func:`input_to_image_coords`); ``bboxes`` / ``bbox_scores`` come from ``gt_instances`` (the person box
      the crop was cut from: ground truth or a detection).
    * ``'tensor'``: the head's raw output (heatmaps (B, K, H, W); SimCC: the (x, y) pair), for export.
    """

    def __init__(self, *, backbone: dict | nn.Module, head: dict | nn.Module, neck: dict | nn.Module | None = None,
                 train_cfg: dict | None = None, test_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None, metainfo: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True), init_cfg=init_cfg)
        parts = assemble(type(self).__name__, backbone=backbone, neck=neck, head=head, head_takes='last')
        self.backbone, self.neck, self.head = parts.backbone, parts.neck, parts.head
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = {**_DEFAULT_TEST_CFG, **(test_cfg or {})}
        self.dataset_meta = self._load_metainfo(metainfo)

    @staticmethod
    def _load_metainfo(metainfo: dict | None) -> dict | None:
        if metainfo is None:
            return None
        if 'from_file' in metainfo or 'keypoint_info' in metainfo:
            return parse_pose_metainfo(metainfo)
        return dict(metainfo)

    @property
    def with_neck(self) -> bool:
        return self.neck is not None

    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Backbone (and neck) features of float (B, 3, H, W) inputs, as a tuple."""
        feats = self.backbone(inputs)
        if self.neck is not None:
            feats = self.neck(feats)
        return tuple(feats) if isinstance(feats, (list, tuple)) else (feats,)

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        if mode == 'loss':
            if not data_samples:
                raise ValueError(f"{type(self).__name__} mode='loss' needs data_samples with the codec's targets")
            return self.head.loss(self.extract_feat(inputs), data_samples, train_cfg=self.train_cfg)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"{type(self).__name__}: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def predict(self, inputs: torch.Tensor, data_samples: list | None = None) -> list:
        """See the class docstring; without ``data_samples`` the crops are taken as whole images (keypoints
        stay in input pixels, box = the whole input)."""
        if data_samples is None:
            h, w = inputs.shape[-2:]
            data_samples = [DataSample(metainfo=dict(input_size=(w, h), input_center=np.array([w / 2, h / 2]),
                                                     input_scale=np.array([w, h]), ori_shape=(h, w),
                                                     img_shape=(h, w))) for _ in range(inputs.shape[0])]
        if self.test_cfg.get('flip_test', False):
            self._fill_flip_indices(data_samples)
            # two backbone passes, as MMPose: one pass over [crops, flipped crops] would give the same up to
            # float rounding only (the convolution algorithms depend on the batch size)
            feats = [self.extract_feat(inputs), self.extract_feat(inputs.flip(-1))]
        else:
            feats = self.extract_feat(inputs)
        out = self.head.predict(feats, data_samples, test_cfg=self.test_cfg)
        preds, fields = out if isinstance(out, tuple) else (out, None)
        return self.add_pred_to_datasample(preds, fields, data_samples)

    def _fill_flip_indices(self, data_samples: Sequence) -> None:
        meta = self.dataset_meta or {}
        if 'flip_indices' not in meta:
            return
        for s in data_samples:
            s.set_metainfo(dict(flip_indices=list(meta['flip_indices'])))

    def add_pred_to_datasample(self, preds: Sequence[InstanceData], fields: Sequence | None,
                               data_samples: Sequence) -> list:
        """Map ``preds`` (keypoints in input pixels) to image pixels and store them as ``pred_instances``."""
        if len(preds) != len(data_samples):
            raise ValueError(f'{type(self).__name__}: the head returned {len(preds)} predictions for '
                             f'{len(data_samples)} samples')
        metas = [s.metainfo for s in data_samples]
        for key in ('input_size', 'input_center', 'input_scale'):
            missing = [i for i, m in enumerate(metas) if key not in m]
            if missing:
                raise ValueError(f"{type(self).__name__}.predict: data sample(s) {missing[:5]} have no {key!r} "
                                 "metainfo: the test pipeline needs TopdownAffine before PackPoseInputs (it "
                                 "writes input_size, input_center and input_scale)")
        kpts = np.stack([to_numpy(p.keypoints) for p in preds])            # (B, N, K, 2)
        scores = [to_numpy(p.keypoint_scores) for p in preds]
        visible = [to_numpy(p.keypoints_visible) if 'keypoints_visible' in p else s for p, s in zip(preds, scores)]
        kpts = input_to_image_coords(kpts, np.stack([np.asarray(m['input_size'], np.float32) for m in metas]),
                                     np.stack([np.asarray(m['input_center'], np.float32).reshape(2) for m in metas]),
                                     np.stack([np.asarray(m['input_scale'], np.float32).reshape(2) for m in metas]),
                                     np.array([bool(m.get('input_udp', False)) for m in metas]))
        num_keypoints = kpts.shape[2]
        keep = self._output_keypoint_indices(num_keypoints)
        if keep is not None:
            kpts = kpts[:, :, keep]
            scores = [s[:, keep] for s in scores]
            visible = [v[:, keep] for v in visible]
        for i, (sample, meta) in enumerate(zip(data_samples, metas)):
            bboxes, bbox_scores = self._boxes_of(sample, meta)
            sample.pred_instances = InstanceData(
                keypoints=kpts[i], keypoint_scores=scores[i], keypoints_visible=visible[i],
                bboxes=np.broadcast_to(bboxes, (len(kpts[i]), 4)).copy() if len(bboxes) == 1 else bboxes,
                bbox_scores=np.broadcast_to(bbox_scores, (len(kpts[i]),)).copy() if len(bbox_scores) == 1
                else bbox_scores)
            if fields is not None:
                hm = fields[i]
                hm = hm.heatmaps if hasattr(hm, 'heatmaps') else hm
                if keep is not None and hm.shape[0] == num_keypoints:
                    hm = hm[keep]
                sample.pred_heatmaps = hm
        return list(data_samples)

    def _output_keypoint_indices(self, num_keypoints: int) -> list[int] | None:
        """``test_cfg['output_keypoint_indices']`` checked against the head's ``num_keypoints``, or None."""
        keep = self.test_cfg.get('output_keypoint_indices')
        if keep is None:
            return None
        try:
            keep = [int(k) for k in keep]
        except (TypeError, ValueError):
            raise ValueError(f'{type(self).__name__}: test_cfg.output_keypoint_indices must be a list of ints, '
                             f'got {keep!r}') from None
        bad = [k for k in keep if not 0 <= k < num_keypoints]
        if bad:
            raise ValueError(f'{type(self).__name__}: test_cfg.output_keypoint_indices {bad[:5]} out of range: the '
                             f'head predicts {num_keypoints} keypoints')
        return keep

    @staticmethod
    def _boxes_of(sample, meta: dict) -> tuple[np.ndarray, np.ndarray]:
        """The person box (1, 4) xyxy image px and its score (1,): ``gt_instances`` when present, else the crop's
        region of the image (score 1)."""
        gt = sample.get('gt_instances')
        if gt is not None and 'bboxes' in gt:
            bboxes = to_numpy(gt.bboxes).reshape(-1, 4).astype(np.float32)
            scores = to_numpy(gt.bbox_scores).reshape(-1).astype(np.float32) if 'bbox_scores' in gt \
                else np.ones(len(bboxes), np.float32)
            return bboxes, scores
        c = np.asarray(meta['input_center'], np.float32).reshape(2)
        s = np.asarray(meta['input_scale'], np.float32).reshape(2)
        return np.concatenate([c - s / 2, c + s / 2])[None], np.ones(1, np.float32)


