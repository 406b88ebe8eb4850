"""VisPredictHead: a pose head plus a per-keypoint visibility classifier on the same features (MMPose's
keypoint-visibility head, top-down only)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from visioncraft.registry import MODELS

from .heatmap_head import flip_indices_of

__all__ = ['VisPredictHead']


@MODELS.register_module()
class VisPredictHead(nn.Module):
    """Wraps a pose head (``pose_cfg``: ``HeatmapHead``, ``RTMCCHead`` ...) and adds a visibility branch:
    global average pool of the last feature map -> ``Linear(in_channels, K)`` (-> sigmoid with
    ``loss.use_sigmoid``), one visibility probability per keypoint.

    Training: the visibility targets are the samples' ``gt_instance_labels.keypoint_weights`` (1, K) (a keypoint
    that is labelled and inside the crop is visible; clipped to [0, 1]), weighted per keypoint by
    ``keypoints_visible_weights`` when the loss has ``use_target_weight`` (ones when a sample has none). The
    losses are the pose head's plus ``loss_vis`` and ``acc_vis`` (the share of keypoints whose thresholded
    probability (>= 0.5) matches the target, weighted like the loss).

    Prediction: the pose head's predictions with ``keypoints_visible`` float32 (1, K) in [0, 1] (the
    visibility probability) in place of the keypoint scores; with flip test the probabilities of the flipped
    crops, left / right swapped by ``flip_indices``, are averaged in.

    Args:
        pose_cfg: the wrapped head's config (its ``in_channels`` and ``out_channels`` / ``num_joints`` size the
            visibility branch) or a built head (then ``in_channels`` and ``out_channels`` attributes).
        loss: the visibility loss, default ``BCELoss(use_sigmoid=True)`` (``use_sigmoid=True``: the branch ends
            in a sigmoid and the loss takes probabilities; False: it outputs logits).
        in_channels: filled in by the estimator from the backbone when ``pose_cfg`` leaves it unset.
        init_cfg: unused (the Linear layer starts N(0, 0.01), bias 0, as MMPose's).

    Parameter names are MMPose's (``pose_head.*``, ``vis_head.2.weight``).
    """

    def __init__(self, pose_cfg: dict | nn.Module,
                 loss: dict | nn.Module = dict(type='BCELoss', use_target_weight=False, use_sigmoid=True),
                 in_channels: int | Sequence[int] | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        if isinstance(pose_cfg, nn.Module):
            self.pose_head = pose_cfg
            in_ch, out_ch = getattr(pose_cfg, 'in_channels', None), getattr(pose_cfg, 'out_channels', None)
        else:
            if not isinstance(pose_cfg, dict) or 'type' not in pose_cfg:
                raise ValueError(f"VisPredictHead: pose_cfg must be a head config with a 'type', got {pose_cfg!r}")
            cfg = dict(pose_cfg)
            if cfg.get('in_channels') is None and in_channels is not None:
                cfg['in_channels'] = in_channels
            in_ch = cfg.get('in_channels')
            out_ch = cfg.get('num_joints', cfg.get('out_channels'))
            self.pose_head = MODELS.build(cfg, key_path='head.pose_cfg')
        if isinstance(in_ch, Sequence):
            in_ch = list(in_ch)[-1]
        if in_ch is None or out_ch is None:
            raise ValueError("VisPredictHead: pose_cfg needs 'in_channels' and 'out_channels' (or 'num_joints'): "
                             'they size the visibility branch')
        self.in_channels, self.out_channels = int(in_ch), int(out_ch)
        self.loss_module = MODELS.build(loss, key_path='head.loss') if isinstance(loss, dict) else loss
        self.use_sigmoid = bool(getattr(self.loss_module, 'use_sigmoid', False))
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(self.in_channels,
                                                                                     self.out_channels)]
        if self.use_sigmoid:
            layers.append(nn.Sigmoid())
        self.vis_head = nn.Sequential(*layers)
        nn.init.normal_(self.vis_head[2].weight, std=0.01)
        nn.init.zeros_(self.vis_head[2].bias)

    @property
    def decoder(self):
        return getattr(self.pose_head, 'decoder', None)

    def vis_forward(self, feats: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Visibility of the last feature map float (B, C, h, w) (or (B, C)): float (B, K), probabilities with
        ``use_sigmoid``, else logits."""
        x = feats[-1] if isinstance(feats, (list, tuple)) else feats
        while x.dim() < 4:
            x = x.unsqueeze(-1)
        return self.vis_head(x).reshape(-1, self.out_channels)

    def forward(self, feats) -> tuple:
        """``(the pose head's output, visibility float (B, K))``."""
        return self.pose_head(feats), self.vis_forward(feats)

    def _probabilities(self, vis: torch.Tensor) -> torch.Tensor:
        return vis if self.use_sigmoid else vis.sigmoid()

    def loss(self, feats, data_samples: Sequence, train_cfg: dict | None = None) -> dict:
        """The pose head's losses plus ``loss_vis`` and ``acc_vis`` (see the class docstring)."""
        vis = self.vis_forward(feats)
        try:
            labels = torch.cat([s.gt_instance_labels.keypoint_weights for s in data_samples]).to(vis)
        except AttributeError as exc:
            raise ValueError('VisPredictHead.loss needs gt_instance_labels.keypoint_weights (1, K) in every data '
                             'sample: add GenerateTarget(encoder=codec) before PackPoseInputs in the training '
                             f'pipeline ({exc})') from None
        if labels.shape != vis.shape:
            raise ValueError(f'VisPredictHead.loss: visibility output {tuple(vis.shape)} but keypoint_weights '
                             f'{tuple(labels.shape)}: out_channels must be the number of keypoints')
        labels = labels.clamp(0, 1)
        weights = None
        if getattr(self.loss_module, 'use_target_weight', False):
            weights = torch.cat([
                torch.as_tensor(s.gt_instance_labels.get('keypoints_visible_weights', np.ones(labels.shape[1:])))
                .reshape(1, -1) for s in data_samples]).to(vis)
        losses = dict(loss_vis=self.loss_module(vis, labels, weights))
        with torch.no_grad():
            correct = ((self._probabilities(vis) >= 0.5).to(vis) == (labels >= 0.5).to(vis)).to(vis)
            if weights is None:
                acc = correct.mean(dim=1)
            else:
                acc = (correct * weights).sum(dim=1) / (weights.sum(dim=1) + 1e-6)
            losses['acc_vis'] = acc.mean()
        losses.update(self.pose_head.loss(feats, data_samples, train_cfg=train_cfg))
        return losses

    def predict(self, feats, data_samples: Sequence | None, test_cfg: dict | None = None):
        """The pose head's predictions (and fields) with ``keypoints_visible`` float32 (1, K) added to each."""
        test_cfg = test_cfg or {}
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError('VisPredictHead.predict with flip_test expects feats=[feats, feats_of_flipped_inputs]')
            idx = torch.as_tensor(flip_indices_of(data_samples), dtype=torch.long)
            vis_flip = self.vis_forward(feats[1])
            vis = (self.vis_forward(feats[0]) + vis_flip[:, idx.to(vis_flip.device)]) * 0.5
        else:
            vis = self.vis_forward(feats)
        vis = self._probabilities(vis).detach().float().cpu().numpy().astype(np.float32)
        out = self.pose_head.predict(feats, data_samples, test_cfg=test_cfg)
        preds, fields = out if isinstance(out, tuple) else (out, None)
        if len(preds) != len(vis):
            raise ValueError(f'VisPredictHead: the pose head returned {len(preds)} predictions for {len(vis)} inputs')
        for i, p in enumerate(preds):
            p.keypoints_visible = vis[i:i + 1]
        return (preds, fields) if isinstance(out, tuple) else preds
