"""SimCC heads: keypoints as two 1-D classifications (one over x bins, one over y bins; Li et al., "SimCC",
ECCV 2022). :class:`RTMCCHead` is RTMPose's (Jiang et al., 2023): a large-kernel conv to one map per keypoint,
each map flattened into a token, a gated attention unit across the K tokens, then linear x / y classifiers.
:class:`SimCCHead` is the plain SimCC head (SimpleBaseline deconvolutions or a 1x1 conv, then linear classifiers
straight from the flattened maps).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from visioncraft.registry import KEYPOINT_CODECS, MODELS
from visioncraft.structures import InstanceData

from ..codecs.flip import flip_vectors  # the codecs own the flip conventions
from .accuracy import keypoint_pck_accuracy
from .gau import RTMCCBlock, ScaleNorm
from .heatmap_head import flip_indices_of

__all__ = ['RTMCCHead', 'SimCCHead', 'simcc_pck_accuracy', 'simcc_normalized']


@torch.no_grad()
def simcc_pck_accuracy(pred: Sequence[torch.Tensor], target: Sequence[torch.Tensor], simcc_split_ratio: float,
                       mask: torch.Tensor, thr: float = 0.05) -> torch.Tensor:
    """``acc_pose`` of the SimCC heads: PCK@``thr`` between the arg-max bins of the predicted and target
    vectors, in input pixels (bins / ``simcc_split_ratio``).

    Args:
        pred, target: ``(x (B, K, Wx), y (B, K, Hy))`` float.
        simcc_split_ratio: bins per input pixel.
        mask: bool (B, K), the keypoints that count (``keypoint_weights > 0``).
    Returns: float scalar tensor (mean PCK over the keypoints with a valid instance; 0 when none).

    As MMPose: a location whose max value (the smaller of the x and y maxima) is <= 0 becomes (-1, -1), and the
    distances are divided by ``(H, W)`` of the input (the x difference by the height, the y difference by the
    width), so the logged values match MMPose's.
    """
    def locations(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        xv, xi = x.detach().float().max(dim=-1)
        yv, yi = y.detach().float().max(dim=-1)
        locs = torch.stack([xi, yi], dim=-1).float() / simcc_split_ratio
        return torch.where((torch.minimum(xv, yv) > 0)[..., None], locs, torch.full_like(locs, -1.0))

    b, _, wx = pred[0].shape
    hy = pred[1].shape[-1]
    w, h = int(wx / simcc_split_ratio), int(hy / simcc_split_ratio)
    norm = torch.tensor([[h, w]], dtype=torch.float32, device=pred[0].device).expand(b, 2)
    return keypoint_pck_accuracy(locations(*pred), locations(*target), mask.bool(), thr, norm)[1]


def simcc_normalized(simcc: torch.Tensor) -> torch.Tensor:
    """MMPose's ``get_simcc_normalized`` for display: negatives clamped to 0 and every vector whose maximum
    exceeds 1 divided by its maximum. (B, K, L) -> (B, K, L)."""
    simcc = simcc.clamp(min=0)
    peak = simcc.amax(dim=-1, keepdim=True)
    return torch.where(peak > 1, simcc / peak.clamp(min=1e-12), simcc)


class _SimCCHeadBase(nn.Module):
    """loss / predict shared by the SimCC heads; a subclass sets ``loss_module``, ``decoder``,
    ``simcc_split_ratio``, ``out_channels`` and defines ``forward(feats) -> (x (B, K, Wx), y (B, K, Hy))``."""

    loss_module: nn.Module
    decoder: object | None
    simcc_split_ratio: float

    def _build_common(self, loss, decoder, input_size, simcc_split_ratio) -> None:
        if len(tuple(input_size)) != 2:
            raise ValueError(f'{type(self).__name__}: input_size must be (w, h), got {input_size}')
        self.input_size = tuple(int(v) for v in input_size)
        self.simcc_split_ratio = float(simcc_split_ratio)
        self.loss_module = MODELS.build(loss, key_path='head.loss') if isinstance(loss, dict) else loss
        self.decoder = KEYPOINT_CODECS.build(decoder, key_path='head.decoder') if isinstance(decoder, dict) \
            else decoder
        if self.decoder is not None:
            ratio = getattr(self.decoder, 'simcc_split_ratio', self.simcc_split_ratio)
            size = tuple(getattr(self.decoder, 'input_size', self.input_size))
            if float(ratio) != self.simcc_split_ratio or tuple(int(v) for v in size) != self.input_size:
                raise ValueError(f'{type(self).__name__}: the decoder has input_size={size}, simcc_split_ratio='
                                 f'{ratio} but the head input_size={self.input_size}, simcc_split_ratio='
                                 f'{self.simcc_split_ratio}; they must agree')

    def _init_layers(self) -> None:
        """MMPose's initialisation of these heads: convs N(0, 0.001), linears N(0, 0.01), biases 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
            else:
                continue
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def loss(self, feats: Sequence[torch.Tensor], data_samples: Sequence, train_cfg: dict | None = None) -> dict:
        """Loss against each sample's ``gt_instance_labels.keypoint_x_labels`` (1, K, Wx),
        ``keypoint_y_labels`` (1, K, Hy) and ``keypoint_weights`` (1, K) (``GenerateTarget`` with a
        ``SimCCLabel`` encoder). Returns ``dict(loss_kpt=scalar, acc_pose=scalar)``."""
        pred_x, pred_y = self.forward(feats)
        try:
            labels = [s.gt_instance_labels for s in data_samples]
            gt_x = torch.cat([torch.as_tensor(lb.keypoint_x_labels) for lb in labels]).to(pred_x)
            gt_y = torch.cat([torch.as_tensor(lb.keypoint_y_labels) for lb in labels]).to(pred_y)
            weights = torch.cat([torch.as_tensor(lb.keypoint_weights) for lb in labels]).to(pred_x)
        except (AttributeError, KeyError) as exc:
            raise ValueError(f'{type(self).__name__}.loss needs gt_instance_labels with keypoint_x_labels, '
                             'keypoint_y_labels and keypoint_weights in every data sample: add '
                             "GenerateTarget(encoder=dict(type='SimCCLabel', ...)) before PackPoseInputs in the "
                             f'training pipeline ({exc})') from None
        if gt_x.shape != pred_x.shape or gt_y.shape != pred_y.shape:
            raise ValueError(f'{type(self).__name__}.loss: the head outputs x {tuple(pred_x.shape)}, y '
                             f'{tuple(pred_y.shape)} but the targets are x {tuple(gt_x.shape)}, y {tuple(gt_y.shape)}:'
                             ' the codec input_size / simcc_split_ratio and out_channels must match the head')
        loss = self.loss_module((pred_x, pred_y), (gt_x, gt_y), weights)
        losses = dict(loss) if isinstance(loss, dict) else dict(loss_kpt=loss)
        losses['acc_pose'] = simcc_pck_accuracy((pred_x, pred_y), (gt_x, gt_y), self.simcc_split_ratio, weights > 0)
        return losses

    def predict(self, feats, data_samples: Sequence | None, test_cfg: dict | None = None):
        """Decode keypoints from the SimCC vectors.

        Args:
            feats: the feature maps, or with ``test_cfg['flip_test']`` ``[feats, feats_of_flipped_inputs]``: the
                flipped vectors are flipped back (``flip_vectors``: x reversed, left / right keypoints swapped by
                the batch's ``flip_indices``) and averaged with the others.
            data_samples: the batch's samples (metainfo ``flip_indices`` for the flip test).
            test_cfg: ``flip_test``, ``output_heatmaps``.
        Returns:
            one ``InstanceData(keypoints=np.float32 (1, K, 2) in input pixels, keypoint_scores=np.float32 (1, K))``
            per sample; with ``output_heatmaps`` a pair ``(that list, [float (K, Hy, Wx) per sample])``, the
            outer product of the normalised y and x vectors (:func:`simcc_normalized`), as MMPose's 1-D
            "heatmaps" for display; the predictions then also carry ``keypoint_x_labels`` (1, K, Wx) and
            ``keypoint_y_labels`` (1, K, Hy), the normalised vectors.
        """
        test_cfg = test_cfg or {}
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError(f'{type(self).__name__}.predict with flip_test expects feats=[feats, '
                                 'feats_of_flipped_inputs]')
            x, y = self.forward(feats[0])
            fx, fy = flip_vectors(*self.forward(feats[1]), flip_indices=flip_indices_of(data_samples))
            x, y = (x + fx) * 0.5, (y + fy) * 0.5
        else:
            x, y = self.forward(feats)
        if self.decoder is None:
            raise ValueError(f'{type(self).__name__}.predict needs a decoder (the codec config, e.g. '
                             "dict(type='SimCCLabel', input_size=(192, 256), sigma=(4.9, 5.66), "
                             'simcc_split_ratio=2.0, normalize=False))')
        keypoints, scores = self.decoder.batch_decode(x, y)
        keypoints = keypoints.detach().float().cpu().numpy().astype(np.float32, copy=False)
        scores = scores.detach().float().cpu().numpy().astype(np.float32, copy=False)
        preds = [InstanceData(keypoints=keypoints[i:i + 1], keypoint_scores=scores[i:i + 1])
                 for i in range(keypoints.shape[0])]
        if not test_cfg.get('output_heatmaps', False):
            return preds
        nx, ny = simcc_normalized(x.detach()), simcc_normalized(y.detach())
        heatmaps = ny.unsqueeze(-1) * nx.unsqueeze(-2)                            # (B, K, Hy, Wx)
        for i, p in enumerate(preds):
            p.keypoint_x_labels = nx[i:i + 1].float().cpu().numpy()
            p.keypoint_y_labels = ny[i:i + 1].float().cpu().numpy()
        return preds, list(heatmaps.unbind(0))


def _last(feats: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    return feats[-1] if isinstance(feats, (list, tuple)) else feats


def _in_channels(in_channels, owner: str) -> int:
    if isinstance(in_channels, (list, tuple)):
        in_channels = list(in_channels)[-1]
    if in_channels is None:
        raise ValueError(f'{owner}: in_channels is required (the channels of the last feature map)')
    return int(in_channels)


@MODELS.register_module()
class RTMCCHead(_SimCCHeadBase):
    """RTMPose's SimCC head.

    ``final_layer`` (conv ``in_channels`` -> K, ``final_layer_kernel_size``, 'same' padding) -> flatten each
    keypoint's map to a token of ``h * w`` values -> ``mlp`` (ScaleNorm, linear to ``hidden_dims``) -> ``gau``
    (:class:`~visioncraft.tasks.pose.models.gau.RTMCCBlock` over the K tokens) -> ``cls_x`` / ``cls_y`` linears to
    ``Wx = input_w * simcc_split_ratio`` and ``Hy = input_h * simcc_split_ratio`` bins.

    Args:
        in_channels: channels of the last feature map (CSPNeXt-s: 512).
        out_channels: number of keypoints K.
        input_size: the model input (w, h), e.g. (192, 256).
        in_featuremap_size: (w, h) of the last feature map, e.g. ``(192 // 32, 256 // 32)`` = (6, 8).
        simcc_split_ratio: bins per input pixel (2.0).
        final_layer_kernel_size: kernel of the first conv (RTMPose: 7).
        gau_cfg: ``dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0., drop_path=0., act_fn='SiLU',
            use_rel_bias=False, pos_enc=False)`` (missing keys take these values).
        loss: ``dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True)`` by default.
        decoder: the codec config (``SimCCLabel`` with the same input_size and simcc_split_ratio).
        init_cfg: unused (MMPose's initialisation is applied: convs N(0, 0.001), linears N(0, 0.01)).

    ``forward(feats)``: tuple of feature maps, the last float (B, in_channels, h, w) -> ``(x (B, K, Wx),
    y (B, K, Hy))`` logits. Parameter names are MMPose's (``final_layer``, ``mlp.0.g``, ``mlp.1``, ``gau.*``,
    ``cls_x``, ``cls_y``): RTMPose checkpoints load unchanged.
    """

    def __init__(self, in_channels: int | Sequence[int], out_channels: int, input_size: Sequence[int],
                 in_featuremap_size: Sequence[int], simcc_split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 1, gau_cfg: dict | None = None,
                 loss: dict | nn.Module = dict(type='KLDiscretLoss', use_target_weight=True),
                 decoder: dict | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        self.in_channels = _in_channels(in_channels, 'RTMCCHead')
        self.out_channels = int(out_channels)
        self._build_common(loss, decoder, input_size, simcc_split_ratio)
        if len(tuple(in_featuremap_size)) != 2:
            raise ValueError(f'RTMCCHead: in_featuremap_size must be (w, h), got {in_featuremap_size}')
        self.in_featuremap_size = tuple(int(v) for v in in_featuremap_size)
        if final_layer_kernel_size % 2 != 1:
            raise ValueError(f'RTMCCHead: final_layer_kernel_size must be odd, got {final_layer_kernel_size}')
        gau = dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0., drop_path=0., act_fn='SiLU',
                   use_rel_bias=False, pos_enc=False)
        unknown = set(gau_cfg or {}) - set(gau)
        if unknown:
            raise ValueError(f'RTMCCHead gau_cfg: unknown keys {sorted(unknown)}; known: {sorted(gau)}')
        gau.update(gau_cfg or {})
        self.gau_cfg = gau
        flatten_dims = math.prod(self.in_featuremap_size)
        self.final_layer = nn.Conv2d(self.in_channels, self.out_channels, final_layer_kernel_size,
                                     padding=final_layer_kernel_size // 2)
        self.mlp = nn.Sequential(ScaleNorm(flatten_dims), nn.Linear(flatten_dims, gau['hidden_dims'], bias=False))
        self.gau = RTMCCBlock(self.out_channels, gau['hidden_dims'], gau['hidden_dims'], s=gau['s'],
                              expansion_factor=gau['expansion_factor'], dropout_rate=gau['dropout_rate'],
                              drop_path=gau['drop_path'], attn_type='self-attn', act_fn=gau['act_fn'],
                              use_rel_bias=gau['use_rel_bias'], pos_enc=gau['pos_enc'])
        w, h = self.input_size
        self.cls_x = nn.Linear(gau['hidden_dims'], int(w * self.simcc_split_ratio), bias=False)
        self.cls_y = nn.Linear(gau['hidden_dims'], int(h * self.simcc_split_ratio), bias=False)
        self._init_layers()

    def forward(self, feats: Sequence[torch.Tensor] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.final_layer(_last(feats))                                         # (B, K, h, w)
        if x.shape[2] * x.shape[3] != self.mlp[1].in_features:
            raise ValueError(f'RTMCCHead: the last feature map is {x.shape[3]}x{x.shape[2]} (w x h) but '
                             f'in_featuremap_size={self.in_featuremap_size}; set it to (input_w / stride, '
                             'input_h / stride)')
        tokens = self.gau(self.mlp(x.flatten(2)))                                  # (B, K, hidden_dims)
        return self.cls_x(tokens), self.cls_y(tokens)


@MODELS.register_module()
class SimCCHead(_SimCCHeadBase):
    """The plain SimCC head (MMPose's ``SimCCHead``): the SimpleBaseline stack of ``deconv_out_channels`` /
    ``deconv_kernel_sizes`` stride-2 deconvolutions (+ optional convs) and ``final_layer`` to K maps, as
    ``deconv_head`` (a :class:`~visioncraft.tasks.pose.models.heatmap_head.HeatmapHead`), or, with
    ``deconv_out_channels=None``, ``final_layer`` alone (1x1 conv ``in_channels`` -> K) on the last feature map;
    then each keypoint's map is flattened and read by the ``mlp_head_x`` / ``mlp_head_y`` linears to ``Wx`` /
    ``Hy`` bins.

    Args: as :class:`RTMCCHead` (no GAU), plus MMPose's ``deconv_type='heatmap'`` (``'vipnas'`` is not
    provided), ``deconv_out_channels=(256, 256, 256)``, ``deconv_kernel_sizes=(4, 4, 4)``,
    ``conv_out_channels`` / ``conv_kernel_sizes`` (None), ``final_layer=dict(kernel_size=1)``;
    ``deconv_num_groups`` is accepted and, as in MMPose, used by ``'vipnas'`` only. ``in_featuremap_size`` is
    the (w, h) of the backbone's last map; the flattened maps are ``2 ** len(deconv_out_channels)`` times it per
    axis. Default loss ``dict(type='KLDiscretLoss', use_target_weight=True)``.

    ``forward(feats)`` -> ``(x (B, K, Wx), y (B, K, Hy))`` logits. Parameter names are MMPose's
    (``deconv_head.deconv_layers.*``, ``deconv_head.final_layer``, or ``final_layer``; ``mlp_head_x``,
    ``mlp_head_y``): SimCC checkpoints load unchanged.
    """

    def __init__(self, in_channels: int | Sequence[int], out_channels: int, input_size: Sequence[int],
                 in_featuremap_size: Sequence[int], simcc_split_ratio: float = 2.0, deconv_type: str = 'heatmap',
                 deconv_out_channels: Sequence[int] | None = (256, 256, 256),
                 deconv_kernel_sizes: Sequence[int] | None = (4, 4, 4),
                 deconv_num_groups: Sequence[int] | None = (16, 16, 16),
                 conv_out_channels: Sequence[int] | None = None, conv_kernel_sizes: Sequence[int] | None = None,
                 final_layer: dict | None = dict(kernel_size=1),
                 loss: dict | nn.Module = dict(type='KLDiscretLoss', use_target_weight=True),
                 decoder: dict | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        if deconv_type not in ('heatmap', 'vipnas'):
            raise ValueError(f"SimCCHead: deconv_type must be 'heatmap' or 'vipnas', got {deconv_type!r}")
        self.in_channels = _in_channels(in_channels, 'SimCCHead')
        self.out_channels = int(out_channels)
        self._build_common(loss, decoder, input_size, simcc_split_ratio)
        if len(tuple(in_featuremap_size)) != 2:
            raise ValueError(f'SimCCHead: in_featuremap_size must be (w, h), got {in_featuremap_size}')
        self.in_featuremap_size = tuple(int(v) for v in in_featuremap_size)
        num_deconv = len(deconv_out_channels) if deconv_out_channels else 0
        if num_deconv:
            if deconv_type == 'vipnas':
                raise ValueError("SimCCHead: deconv_type='vipnas' (ViPNAS's grouped deconvolutions) is not provided; "
                                 "use deconv_type='heatmap' or deconv_out_channels=None")
            from .heatmap_head import HeatmapHead
            self.deconv_head = HeatmapHead(self.in_channels, self.out_channels,
                                           deconv_out_channels=deconv_out_channels,
                                           deconv_kernel_sizes=deconv_kernel_sizes,
                                           conv_out_channels=conv_out_channels, conv_kernel_sizes=conv_kernel_sizes,
                                           final_layer=final_layer)
        else:
            if conv_out_channels:
                raise ValueError('SimCCHead: conv_out_channels needs deconv_out_channels (MMPose builds the convs '
                                 'only inside the deconvolution stack)')
            self.deconv_head = None
            k = dict(final_layer).get('kernel_size', 1) if final_layer is not None else None
            self.final_layer = nn.Conv2d(self.in_channels, self.out_channels, k, padding=k // 2) \
                if final_layer is not None else None
        self.heatmap_size = tuple(s * 2 ** num_deconv for s in self.in_featuremap_size)   # (w, h)
        flatten_dims = math.prod(self.heatmap_size)
        w, h = self.input_size
        self.mlp_head_x = nn.Linear(flatten_dims, int(w * self.simcc_split_ratio))
        self.mlp_head_y = nn.Linear(flatten_dims, int(h * self.simcc_split_ratio))
        self._init_layers()
        if self.deconv_head is not None:
            self.deconv_head._init_layers()  # MMPose's: deconvolutions and convs N(0, 0.001), BatchNorm 1 / 0

    def forward(self, feats: Sequence[torch.Tensor] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.deconv_head is not None:
            x = self.deconv_head(feats)
        else:
            x = _last(feats)
            if self.final_layer is not None:
                x = self.final_layer(x)
        x = x.flatten(2)                                                           # (B, K, h * w)
        if x.shape[-1] != self.mlp_head_x.in_features:
            raise ValueError(f'SimCCHead: the maps to classify have {x.shape[-1]} cells but in_featuremap_size='
                             f'{self.in_featuremap_size} means {self.heatmap_size} (w, h) = '
                             f'{self.mlp_head_x.in_features}; set it to (input_w / stride, input_h / stride) of the '
                             'last feature map')
        return self.mlp_head_x(x), self.mlp_head_y(x)
