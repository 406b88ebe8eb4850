"""Data preprocessors: the first thing a model does with a batch, on its device."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MODELS

__all__ = ['BaseDataPreprocessor', 'ImgDataPreprocessor', 'to_device']


def to_device(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, dict):
        return {k: to_device(v, device, non_blocking) for k, v in data.items()}
    if isinstance(data, list):
        return [to_device(v, device, non_blocking) for v in data]
    if isinstance(data, tuple):
        return tuple(to_device(v, device, non_blocking) for v in data)
    if hasattr(data, 'to') and not isinstance(data, nn.Module):
        return data.to(device)
    return data


@MODELS.register_module()
class BaseDataPreprocessor(nn.Module):
    """Moves the batch to the module's device (the device of a dummy buffer that follows ``.to()``)."""

    def __init__(self, non_blocking: bool = False) -> None:
        super().__init__()
        self.non_blocking = non_blocking
        self.register_buffer('_device_anchor', torch.empty(0), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._device_anchor.device

    def forward(self, data: dict, training: bool = False) -> dict:
        return to_device(data, self.device, self.non_blocking)


def _norm_values(name: str, value) -> list[float]:
    """``mean`` / ``std`` as a list of finite floats (one, or one per channel)."""
    values = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError(name)
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f'ImgDataPreprocessor: {name} must be a list of numbers (one per channel), got '
                        f'{value!r:.80}') from None
    if not out or not all(math.isfinite(v) for v in out):
        raise ValueError(f'ImgDataPreprocessor: {name} must be a non-empty list of finite numbers, got {value!r:.80}')
    return out


@MODELS.register_module()
class ImgDataPreprocessor(BaseDataPreprocessor):
    """Stack images into one float batch: BGR->RGB (optional), ``(x - mean) / std``, pad to a common
    size divisible by ``pad_size_divisor``.

    Input ``data['inputs']``: a list of CxHxW uint8 (or float) tensors, or an NxCxHxW tensor.
    Output ``inputs``: NxCxH'xW' float32, where H', W' are the largest H, W rounded up.
    ``data_samples`` get ``batch_input_shape`` and ``pad_shape`` in their metainfo when they have
    ``set_metainfo``.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 bgr_to_rgb: bool = False, rgb_to_bgr: bool = False, pad_size_divisor: int = 1,
                 pad_value: float = 0.0, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError('ImgDataPreprocessor: bgr_to_rgb and rgb_to_bgr cannot both be True')
        if (mean is None) != (std is None):
            raise ValueError('ImgDataPreprocessor: give both mean and std, or neither')
        self.swap_channels = bgr_to_rgb or rgb_to_bgr
        self._normalize = mean is not None
        if mean is not None:
            mean, std = _norm_values('mean', mean), _norm_values('std', std)
            if len(mean) != len(std):
                raise ValueError(f'ImgDataPreprocessor: mean has {len(mean)} values and std {len(std)}; give one '
                                 'per channel (or one for all)')
            if any(v == 0 for v in std):
                raise ValueError(f'ImgDataPreprocessor: std {std} holds a 0 (the images are divided by it)')
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), persistent=False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value

    def _convert(self, batch: torch.Tensor) -> torch.Tensor:
        """NxCxHxW -> float, channels swapped (optional), normalised."""
        batch = batch.float()
        if self.swap_channels and batch.shape[1] == 3:
            batch = batch.flip(1)
        if self._normalize:
            batch = (batch - self.mean) / self.std
        return batch

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs = data['inputs']
        imgs = list(inputs) if isinstance(inputs, (list, tuple)) else list(inputs.unbind(0))
        h = max(i.shape[-2] for i in imgs)
        w = max(i.shape[-1] for i in imgs)
        d = self.pad_size_divisor
        if d > 1:
            h, w = -(-h // d) * d, -(-w // d) * d
        if all(i.shape[-2:] == (h, w) for i in imgs) and len({i.shape for i in imgs}) == 1:
            # one size: convert and normalise the whole batch at once (no per-image ops)
            batch = self._convert(torch.stack(imgs) if isinstance(inputs, (list, tuple)) else inputs)
        else:
            batch = torch.stack([F.pad(self._convert(i[None])[0], (0, w - i.shape[-1], 0, h - i.shape[-2]),
                                       value=self.pad_value) for i in imgs])
        samples = data.get('data_samples')
        if samples is not None:
            for s, img in zip(samples, imgs):
                if hasattr(s, 'set_metainfo'):
                    s.set_metainfo(dict(batch_input_shape=(h, w), pad_shape=(h, w)))
        data['inputs'] = batch
        return data
