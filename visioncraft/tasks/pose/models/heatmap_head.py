"""HeatmapHead: the SimpleBaseline deconvolution head (Xiao et al., 2018), with its loss and its codec."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from visioncraft.registry import KEYPOINT_CODECS, MODELS
from visioncraft.structures import InstanceData

from ..codecs.flip import flip_heatmaps  # the codecs own the flip conventions
from .accuracy import heatmap_pck_accuracy

__all__ = ['HeatmapHead', 'flip_indices_of', 'merge_flip_heatmaps']

# deconv kernel size -> (padding, output_padding) so that a stride-2 transposed conv exactly doubles H and W
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def flip_indices_of(data_samples: Sequence | None) -> list[int]:
    """The ``flip_indices`` metainfo of a batch (the first sample's; every sample comes from one dataset)."""
    meta = getattr(data_samples[0], 'metainfo', {}) if data_samples else {}
    if 'flip_indices' not in meta:
        raise ValueError("flip test needs 'flip_indices' in the data samples' metainfo (PackPoseInputs meta_keys, "
                         "from the dataset's metainfo) or in the model's dataset_meta; or set "
                         "test_cfg=dict(flip_test=False)")
    return list(meta['flip_indices'])


def merge_flip_heatmaps(heatmaps: torch.Tensor, heatmaps_flipped: torch.Tensor, flip_indices: Sequence[int],
                        test_cfg: dict) -> torch.Tensor:
    """Average ``heatmaps`` (B, K, H, W) with those of the flipped inputs, flipped back by the codec's
    ``flip_heatmaps`` (``test_cfg['flip_mode']``: 'heatmap' (shifted one pixel right with ``shift_heatmap``,
    compensating the odd flip of an even-width map) or 'udp' (no shift))."""
    back = flip_heatmaps(heatmaps_flipped, flip_indices=flip_indices, flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                         shift_heatmap=test_cfg.get('shift_heatmap', True))
    return (heatmaps + back) * 0.5


def _check_pair(name: str, channels, kernels) -> None:
    if channels and (kernels is None or len(channels) != len(kernels)):
        raise ValueError(f'HeatmapHead: {name}_out_channels {tuple(channels)} and {name}_kernel_sizes '
                         f'{None if kernels is None else tuple(kernels)} must have the same length')


@MODELS.register_module()
class HeatmapHead(nn.Module):
    """Deconvolutions (each stride 2, no bias, BatchNorm, ReLU) -> optional convs (BN, ReLU) -> a final conv
    to ``out_channels`` heatmaps. On the last backbone feature map (stride 32) the default three deconvs give
    stride-4 heatmaps: 256x192 inputs -> 64x48 heatmaps.

    Args:
        in_channels: channels of the last feature map (a sequence: its last entry).
        out_channels: number of keypoints K.
        deconv_out_channels / deconv_kernel_sizes: one entry per deconv layer (kernel 4, 3 or 2); empty or
            None for no deconv.
        conv_out_channels / conv_kernel_sizes: intermediate convs (odd kernels, 'same' padding), or None.
        final_layer: ``dict(kernel_size=1)`` (the conv's arguments) or None (no final conv: the last layer's
            channels must then equal ``out_channels``).
        loss: a loss config called as ``loss(pred (B,K,H,W), gt_heatmaps (B,K,H,W), keypoint_weights (B,K))``.
        decoder: the codec config (``MSRAHeatmap``, ``UDPHeatmap``) whose ``batch_decode`` turns heatmaps into
            keypoints in input pixels.
        init_cfg: unused (accepted for MMPose configs); weights start as MMPose's: conv and deconv weights
            N(0, 0.001), biases 0, BatchNorm weight 1 and bias 0.

    Parameter names are MMPose's (``deconv_layers.0.weight``, ``conv_layers.*``, ``final_layer.*``).
    """

    def __init__(self, in_channels: int | Sequence[int], out_channels: int,
                 deconv_out_channels: Sequence[int] | None = (256, 256, 256),
                 deconv_kernel_sizes: Sequence[int] | None = (4, 4, 4),
                 conv_out_channels: Sequence[int] | None = None, conv_kernel_sizes: Sequence[int] | None = None,
                 final_layer: dict | None = dict(kernel_size=1),
                 loss: dict | nn.Module = dict(type='KeypointMSELoss', use_target_weight=True),
                 decoder: dict | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        if isinstance(in_channels, Sequence):
            in_channels = list(in_channels)[-1]
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        _check_pair('deconv', deconv_out_channels, deconv_kernel_sizes)
        _check_pair('conv', conv_out_channels, conv_kernel_sizes)
        channels = self.in_channels
        layers: list[nn.Module] = []
        for out, k in zip(deconv_out_channels or (), deconv_kernel_sizes or ()):
            if k not in _DECONV_PADDING:
                raise ValueError(f'HeatmapHead: deconv kernel size must be 4, 3 or 2, got {k}')
            pad, out_pad = _DECONV_PADDING[k]
            layers += [nn.ConvTranspose2d(channels, out, k, stride=2, padding=pad, output_padding=out_pad,
                                          bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.deconv_layers = nn.Sequential(*layers) if layers else nn.Identity()
        layers = []
        for out, k in zip(conv_out_channels or (), conv_kernel_sizes or ()):
            if k % 2 != 1:
                raise ValueError(f'HeatmapHead: conv kernel sizes must be odd, got {k}')
            layers += [nn.Conv2d(channels, out, k, padding=(k - 1) // 2), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.conv_layers = nn.Sequential(*layers) if layers else nn.Identity()
        if final_layer is not None:
            cfg = dict(final_layer)
            k = cfg.pop('kernel_size', 1)
            self.final_layer = nn.Conv2d(channels, self.out_channels, k, padding=cfg.pop('padding', (k - 1) // 2),
                                         **cfg)
        else:
            if channels != self.out_channels:
                raise ValueError(f'HeatmapHead: final_layer=None needs the last layer to output out_channels='
                                 f'{self.out_channels} channels, it outputs {channels}')
            self.final_layer = nn.Identity()
        self.loss_module = MODELS.build(loss, key_path='head.loss')
        self.decoder = KEYPOINT_CODECS.build(decoder, key_path='head.decoder') if decoder is not None else None
        self._init_layers()

    def _init_layers(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """``feats``: the backbone's (or neck's) feature maps; the last, float (B, C, h, w), is used.
        Returns heatmaps float (B, K, h * 2**num_deconv, w * 2**num_deconv)."""
        x = feats[-1] if isinstance(feats, (list, tuple)) else feats
        return self.final_layer(self.conv_layers(self.deconv_layers(x)))

    # -- training ------------------------------------------------------------------------------------------------
    def loss(self, feats: Sequence[torch.Tensor], data_samples: Sequence, train_cfg: dict | None = None) -> dict:
        """Loss against each sample's ``gt_heatmaps`` (K, H, W) weighted by its
        ``gt_instance_labels.keypoint_weights`` (1, K). Returns ``dict(loss_kpt=scalar, acc_pose=scalar)``
        (``acc_pose``: PCK@0.05 of the heatmap maxima, see :func:`heatmap_pck_accuracy`; left out with
        ``train_cfg=dict(compute_acc=False)``, and for UDP combined maps (K*3 channels), which have no one
        heatmap per keypoint)."""
        pred = self.forward(feats)
        try:
            gt = torch.stack([s.gt_heatmaps for s in data_samples]).to(pred)
            weights = torch.cat([s.gt_instance_labels.keypoint_weights for s in data_samples]).to(pred)
        except AttributeError as exc:
            raise ValueError('HeatmapHead.loss needs gt_heatmaps (K, H, W) and gt_instance_labels.keypoint_weights '
                             '(1, K) in every data sample: add GenerateTarget(encoder=codec) before PackPoseInputs '
                             f'in the training pipeline ({exc})') from None
        if gt.shape != pred.shape:
            raise ValueError(f'HeatmapHead.loss: the head outputs heatmaps {tuple(pred.shape[1:])} but the targets '
                             f'are {tuple(gt.shape[1:])}: the codec heatmap_size (w, h) and out_channels must match '
                             'the network')
        loss = self.loss_module(pred, gt, weights)
        losses = dict(loss) if isinstance(loss, dict) else dict(loss_kpt=loss)
        if (train_cfg or {}).get('compute_acc', True) and pred.shape[1] == weights.shape[1]:
            losses['acc_pose'] = heatmap_pck_accuracy(pred, gt, weights > 0)
        return losses

    # -- inference -----------------------------------------------------------------------------------------------
    def predict(self, feats, data_samples: Sequence | None, test_cfg: dict | None = None):
        """Decode keypoints from the heatmaps.

        Args:
            feats: the feature maps, or with ``test_cfg['flip_test']`` a list ``[feats, feats_of_flipped_inputs]``
                (the flipped heatmaps are flipped back with the batch's ``flip_indices`` and averaged in).
            data_samples: the batch's samples (their metainfo gives ``flip_indices``).
            test_cfg: ``flip_test``, ``flip_mode``, ``shift_heatmap``, ``output_heatmaps``.
        Returns:
            one ``InstanceData(keypoints=np.float32 (1, K, 2) in input pixels, keypoint_scores=np.float32 (1, K))``
            per sample; with ``output_heatmaps`` a pair ``(that list, [heatmaps float (K, H, W) per sample])``.
        """
        test_cfg = test_cfg or {}
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError('HeatmapHead.predict with flip_test expects feats=[feats, feats_of_flipped_inputs]')
            heatmaps = merge_flip_heatmaps(self.forward(feats[0]), self.forward(feats[1]),
                                           flip_indices_of(data_samples), test_cfg)
        else:
            heatmaps = self.forward(feats)
        if self.decoder is None:
            raise ValueError('HeatmapHead.predict needs a decoder (the codec config, e.g. dict(type="MSRAHeatmap", '
                             'input_size=(192, 256), heatmap_size=(48, 64), sigma=2))')
        keypoints, scores = self.decoder.batch_decode(heatmaps)
        keypoints = keypoints.detach().float().cpu().numpy().astype(np.float32, copy=False)
        scores = scores.detach().float().cpu().numpy().astype(np.float32, copy=False)
        preds = [InstanceData(keypoints=keypoints[i:i + 1], keypoint_scores=scores[i:i + 1])
                 for i in range(keypoints.shape[0])]
        if test_cfg.get('output_heatmaps', False):
            return preds, list(heatmaps.detach().unbind(0))
        return preds
