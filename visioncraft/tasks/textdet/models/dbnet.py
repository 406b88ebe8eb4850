"""DBNet: backbone -> FPNC neck -> DBHead."""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.models.assembly import assemble, feature_shape
from visioncraft.models.base import BaseModel, build_submodule
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

__all__ = ['DBNet']


@MODELS.register_module()
class DBNet(BaseModel):
    """DBNet (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization", 2020).

    Args:
        backbone: config or module returning a tuple of feature maps (finest first) and declaring
            ``out_channels`` / ``strides`` (ResNet-18 with out_indices 0..3: strides 4..32).
        neck: FPNC config or module; ``in_channels`` default to the backbone's ``out_channels``.
        det_head: DBHead config or module; ``in_channels`` default to the neck's output channels.
        data_preprocessor: default ``ImgDataPreprocessor`` with ImageNet mean / std, BGR -> RGB and
            ``pad_size_divisor=32``.

    ``forward(inputs, data_samples, mode)``, ``inputs`` float N x 3 x H x W (H, W multiples of 32):

    * ``'loss'``: ``dict(loss_prob, loss_thr, loss_db)``; samples need ``gt_instances.polygons`` (flat float32
      arrays, pixels of ``inputs``) and ``gt_instances.ignored`` (bool).
    * ``'predict'``: samples with ``pred_instances = InstanceData(polygons=K flat float32 arrays in ORIGINAL
      image pixels, scores=float32 K)``.
    * ``'tensor'``: the N x H x W probability map.
    """

    def __init__(self, *, backbone: dict | nn.Module, det_head: dict | nn.Module, neck: dict | nn.Module | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True, pad_size_divisor=32), init_cfg=init_cfg)
        self.backbone = build_submodule(backbone, 'backbone')
        strides = feature_shape(self.backbone).strides
        if strides and strides[0] != 4:
            raise ValueError(f'DBNet: the finest backbone level must have stride 4 (DBHead upsamples x4), '
                             f'got strides {list(strides)}')
        parts = assemble('DBNet', backbone=self.backbone, neck=neck, head=det_head, head_key='det_head',
                         head_takes='first')
        self.neck, self.det_head = parts.neck, parts.head

    def extract_feat(self, inputs: torch.Tensor):
        feats = self.backbone(inputs)
        return self.neck(feats) if self.neck is not None else feats

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f"DBNet: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
        feats = self.extract_feat(inputs)
        if mode == 'tensor':
            return self.det_head(feats)
        if mode == 'loss':
            if not data_samples:
                raise ValueError("DBNet mode='loss' needs data_samples with gt_instances")
            return self.det_head.loss(feats, data_samples)
        if data_samples is None:
            h, w = inputs.shape[-2:]
            data_samples = [DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w))) for _ in inputs]
        for sample, pred in zip(data_samples, self.det_head.predict(feats, data_samples)):
            sample.pred_instances = pred
        return data_samples
