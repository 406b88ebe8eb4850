"""DBHead: probability and threshold branches at the input resolution, trained through the codec's targets."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import InstanceData

__all__ = ['DBHead']


def _branch(cin: int) -> nn.Sequential:
    mid = max(cin // 4, 1)
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, mid, 2, stride=2), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, 1, 2, stride=2), nn.Sigmoid())


# MMOCR 1.x DBModuleLoss / DBPostprocessor argument -> (our part, our argument); defaults are MMOCR's
_MMOCR_DB_LOSS_ARGS = {'weight_prob': ('loss', 'loss_prob_weight'), 'weight_thr': ('loss', 'loss_thr_weight'),
                       'shrink_ratio': ('codec', 'shrink_ratio'), 'thr_min': ('codec', 'thr_min'),
                       'thr_max': ('codec', 'thr_max'), 'min_sidelength': ('codec', 'min_text_size')}
_MMOCR_DB_LOSS_DEFAULTS = {'weight_prob': 5.0, 'weight_thr': 10.0, 'shrink_ratio': 0.4, 'thr_min': 0.3,
                           'thr_max': 0.7, 'min_sidelength': 8}
# the sub-losses MMOCR's DBModuleLoss builds by default, which DBLoss implements (balanced BCE, L1, dice)
_MMOCR_DB_SUBLOSSES = {'loss_prob': {'type': 'MaskedBalancedBCEWithLogitsLoss'},
                       'loss_thr': {'type': 'MaskedSmoothL1Loss', 'beta': 0},
                       'loss_db': {'type': 'MaskedDiceLoss'}}
_MMOCR_DB_POST_ARGS = {'text_repr_type': 'text_repr_type', 'mask_thr': 'thresh', 'min_text_score': 'box_thresh',
                       'min_text_width': 'min_box_size', 'unclip_ratio': 'unclip_ratio',
                       'epsilon_ratio': 'epsilon_ratio', 'max_candidates': 'max_candidates'}
_MMOCR_DB_POST_DEFAULTS = {'text_repr_type': 'poly', 'mask_thr': 0.3, 'min_text_score': 0.3, 'min_text_width': 5,
                           'unclip_ratio': 1.5, 'epsilon_ratio': 0.01, 'max_candidates': 3000}


def _check_type(cfg: dict, expected: str, key: str) -> dict:
    cfg = dict(cfg)
    kind = str(cfg.pop('type', expected)).split('.')[-1]
    if kind != expected:
        raise ValueError(f"DBHead: {key}.type must be {expected!r} (MMOCR's), got {kind!r}")
    return cfg


def mmocr_db_codec_and_loss(module_loss: dict | None, postprocessor: dict | None) -> tuple[dict, dict]:
    """``(codec, loss)`` configs (:class:`DBCodec`, :class:`DBLoss`) from MMOCR 1.x's ``DBModuleLoss`` and
    ``DBPostprocessor`` configs, with MMOCR's defaults for what they leave out (``min_sidelength=8``: smaller
    polygons are ignored in training; ``text_repr_type='poly'``; ``epsilon_ratio=0.01``: candidates are simplified
    with ``cv2.approxPolyDP`` before scoring and unclipping, as MMOCR decodes). An argument this mapping cannot
    honour is a ValueError naming it."""
    loss_args = {**_MMOCR_DB_LOSS_DEFAULTS, **_check_type(module_loss or {}, 'DBModuleLoss', 'module_loss')}
    post_args = {**_MMOCR_DB_POST_DEFAULTS, **_check_type(postprocessor or {}, 'DBPostprocessor', 'postprocessor')}
    codec: dict = {'type': 'DBCodec'}
    loss: dict = {'type': 'DBLoss', 'loss_db_weight': 1.0}
    for key, value in loss_args.items():
        if key in _MMOCR_DB_SUBLOSSES:
            given = {k: v for k, v in dict(value).items()}
            given['type'] = str(given.get('type', '')).split('.')[-1]
            if given != _MMOCR_DB_SUBLOSSES[key]:
                raise ValueError(f'DBHead: module_loss.{key}={value!r} is not supported; only MMOCR\'s default '
                                 f'{_MMOCR_DB_SUBLOSSES[key]!r} (remove the key)')
            continue
        if key not in _MMOCR_DB_LOSS_ARGS:
            raise ValueError(f'DBHead: module_loss (DBModuleLoss) has no argument {key!r}; it takes '
                             f'{sorted([*_MMOCR_DB_LOSS_ARGS, *_MMOCR_DB_SUBLOSSES])}')
        part, name = _MMOCR_DB_LOSS_ARGS[key]
        (codec if part == 'codec' else loss)[name] = value
    for key, value in post_args.items():
        if key == 'rescale_fields':
            if list(value) != ['polygons']:
                raise ValueError(f"DBHead: postprocessor.rescale_fields={value!r} is not supported; only "
                                 "['polygons'] (the default)")
            continue
        if key not in _MMOCR_DB_POST_ARGS:
            raise ValueError(f'DBHead: postprocessor (DBPostprocessor) has no argument {key!r}; it takes '
                             f"{sorted([*_MMOCR_DB_POST_ARGS, 'rescale_fields'])}")
        codec[_MMOCR_DB_POST_ARGS[key]] = value
    return codec, loss


@MODELS.register_module()
class DBHead(nn.Module):
    """Differentiable-binarization head (Liao et al., 2020).

    Two branches, each conv3x3-BN-ReLU -> deconv x2-BN-ReLU -> deconv x2 -> sigmoid, turn the stride-4 neck
    feature into the probability map P and the threshold map T at the input resolution; in training the
    approximate binary map is ``B = 1 / (1 + exp(-k (P - T)))``.

    Args:
        in_channels: channels of the neck output (FPNC: 256).
        k: the amplification factor of the approximate binarization (50).
        codec: config of the :class:`DBCodec` that makes the targets and decodes predictions.
        loss: config of the :class:`DBLoss`.
        module_loss, postprocessor: MMOCR 1.x's ``dict(type='DBModuleLoss', ...)`` and
            ``dict(type='DBPostprocessor', ...)`` instead of ``codec`` / ``loss``: their arguments become the
            codec's and the loss's (:func:`mmocr_db_codec_and_loss`).
        with_bias: MMOCR's argument; only False (the default) is supported.
    """

    def __init__(self, *, in_channels: int, k: float = 50.0, codec: dict | None = None,
                 loss: dict | None = None, module_loss: dict | None = None, postprocessor: dict | None = None,
                 with_bias: bool = False, init_cfg: dict | None = None) -> None:
        super().__init__()
        if with_bias:
            raise ValueError('DBHead: with_bias=True (biased 3x3 convs in the branches) is not supported; '
                             'remove it (MMOCR\'s default is False)')
        if module_loss is not None or postprocessor is not None:  # MMOCR 1.x: DBModuleLoss + DBPostprocessor
            if codec is not None or loss is not None:
                raise ValueError('DBHead: give either codec/loss or MMOCR\'s module_loss/postprocessor, not both')
            codec, loss = mmocr_db_codec_and_loss(module_loss, postprocessor)
        self.k = k
        self.binarize = _branch(in_channels)
        self.threshold = _branch(in_channels)
        self.codec = TASK_UTILS.build(codec or dict(type='DBCodec'))
        self.loss_module = MODELS.build(loss or dict(type='DBLoss'))

    @staticmethod
    def _feature(x) -> torch.Tensor:
        return x[0] if isinstance(x, (list, tuple)) else x

    def forward(self, x, with_threshold: bool = False):
        """``x``: N x C x H/4 x W/4 (or a 1-tuple). Returns the N x H x W probability map; with
        ``with_threshold`` also the threshold and approximate binary maps (N x H x W each)."""
        feat = self._feature(x)
        prob = self.binarize(feat).squeeze(1)
        if not with_threshold:
            return prob
        thr = self.threshold(feat).squeeze(1)
        binary = torch.reciprocal(1 + torch.exp(-self.k * (prob - thr)))
        return prob, thr, binary

    def get_targets(self, data_samples: list, shape: tuple[int, int], device) -> dict[str, torch.Tensor]:
        """Training targets at ``shape`` (H, W), the padded batch shape: ``shrink_map``, ``shrink_mask``,
        ``thr_map``, ``thr_mask``, each float32 N x H x W on ``device``.

        A sample that carries ``gt_db_targets`` (made in the data pipeline by ``GenerateDBTargets``) gives its
        stored maps, cropped or padded at the bottom / right with the background values, which is what encoding
        at ``shape`` gives (:meth:`DBCodec.target_extent`); their ``codec_fingerprint`` must equal this head's
        codec's, else ValueError. Any other sample's ``gt_instances.polygons`` / ``ignored`` (pixels of the
        padded input) are encoded here, on the main process.
        """
        h, w = int(shape[0]), int(shape[1])
        per_sample = []
        for i, s in enumerate(data_samples):
            stored = s.get('gt_db_targets')
            if stored is not None:
                per_sample.append(self._fit_stored(stored, (h, w), device, i, s))
                continue
            gt = s.gt_instances
            polys = list(gt.polygons) if 'polygons' in gt else []
            ignored = gt.ignored.cpu().numpy() if 'ignored' in gt else None
            per_sample.append({k: torch.from_numpy(v).to(device) for k, v in self.codec.encode(polys, ignored,
                                                                                               (h, w)).items()})
        return {k: torch.stack([m[k] for m in per_sample]) for k in per_sample[0]}

    def _background(self) -> dict[str, float]:
        """The value of each target map where no text reaches (the codec's encoding of an empty image)."""
        return {k: float(v[0, 0]) for k, v in self.codec.encode([], None, (1, 1)).items()}

    def _fit_stored(self, stored, shape: tuple[int, int], device, index: int, sample) -> dict[str, torch.Tensor]:
        """One sample's stored maps as float32 ``shape`` tensors on ``device`` (checked, cropped / padded)."""
        where = f'sample {index} ({sample.metainfo.get("img_path", "?")})'
        own = self.codec.target_fingerprint()
        theirs = stored.metainfo.get('codec_fingerprint')
        if theirs != own:
            raise ValueError(f'DBHead: {where} carries gt_db_targets made with codec settings [{theirs}] but this '
                             f"head's codec has [{own}]; build GenerateDBTargets in the train pipeline from the same "
                             'codec config as model.det_head.codec (e.g. one db_codec dict used in both places)')
        h, w = shape
        out = {}
        for k, bg in self._background().items():
            if k not in stored:
                raise KeyError(f'DBHead: {where}: gt_db_targets lacks {k!r} (has {sorted(stored.keys())})')
            m = stored.get(k).to(device=device, dtype=torch.float32)
            m = m[:h, :w]
            if m.shape != (h, w):
                m = F.pad(m, (0, w - m.shape[1], 0, h - m.shape[0]), value=bg)
            out[k] = m
        return out

    def loss(self, x, data_samples: list) -> dict[str, torch.Tensor]:
        prob, thr, binary = self(x, with_threshold=True)
        targets = self.get_targets(data_samples, tuple(prob.shape[-2:]), prob.device)
        return self.loss_module(prob, thr, binary, targets)

    def predict(self, x, data_samples: list) -> list[InstanceData]:
        """``pred_instances`` per sample: ``polygons`` (K flat float32 arrays in original-image pixels) and
        ``scores`` (float32 K tensor). MMOCR-style decoding (``codec.epsilon_ratio`` set) reads the whole padded
        map and keeps polygons unclipped, as MMOCR's DBPostprocessor does; otherwise the map is cut to
        ``img_shape`` and the polygons are clipped to ``ori_shape``."""
        prob = self(x)
        mmocr = getattr(self.codec, 'epsilon_ratio', None) is not None
        results = []
        for p, s in zip(prob, data_samples):
            h, w = p.shape[-2:] if mmocr else s.metainfo.get('img_shape', p.shape[-2:])[:2]
            scale = s.metainfo.get('scale_factor', (1.0, 1.0))
            ori = s.metainfo.get('ori_shape')
            polys, scores = self.codec.decode(p[:int(h), :int(w)], scale_factor=scale, ori_shape=ori)
            results.append(InstanceData(polygons=polys, scores=torch.from_numpy(np.asarray(scores, np.float32))))
        return results
