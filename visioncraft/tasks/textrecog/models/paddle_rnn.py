"""PaddleOCR's recurrent sequence neck (``Neck: {name: SequenceEncoder, encoder_type: rnn}``, CRNN's)."""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.registry import MODELS

from .encoders import feature_map_to_sequence

__all__ = ['StackedBiLSTMEncoder']


@MODELS.register_module()
class StackedBiLSTMEncoder(nn.Module):
    """``num_layers`` bidirectional LSTMs stacked directly (each reads the previous one's 2 x ``hidden_channels``
    outputs; no linear layer between them, unlike :class:`BiLSTMEncoder`): PaddleOCR's ``EncoderWithRNN``, one
    ``nn.LSTM(num_layers=2, bidirectional)``. Its weights are ``lstm.weight_ih_l0`` ... ``lstm.bias_hh_l1_reverse``
    (gate order i, f, g, o in both frameworks), so PaddleOCR's ``neck.encoder.lstm.*`` load by name.

    Forward: N x C x 1 x W feature map (or N x T x C) -> N x W x (2 * hidden_channels).
    """

    def __init__(self, in_channels: int, hidden_channels: int = 48, num_layers: int = 2) -> None:
        super().__init__()
        if num_layers < 1 or hidden_channels < 1 or in_channels < 1:
            raise ValueError(f'StackedBiLSTMEncoder: in_channels, hidden_channels and num_layers must be >= 1, got '
                             f'{in_channels}, {hidden_channels}, {num_layers}')
        self.lstm = nn.LSTM(in_channels, hidden_channels, num_layers=num_layers, bidirectional=True,
                            batch_first=True)
        self.in_channels, self.out_channels = in_channels, 2 * hidden_channels

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.lstm(feature_map_to_sequence(feat, 'StackedBiLSTMEncoder'))[0]
