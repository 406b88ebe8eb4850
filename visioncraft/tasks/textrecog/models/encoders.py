"""Sequence encoders of text recognisers: feature map (N x C x 1 x W) -> frame sequence (N x T x C')."""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['BiLSTMEncoder', 'feature_map_to_sequence']


def feature_map_to_sequence(feat: torch.Tensor, who: str) -> torch.Tensor:
    """N x C x 1 x W feature map -> N x W x C sequence (one frame per column). A map more than one row high is an
    error: CRNN-style backbones reduce the height to 1 for the input height they were built for."""
    if feat.dim() == 3:
        return feat
    if feat.dim() != 4 or feat.shape[2] != 1:
        raise ValueError(f'{who}: expected an N x C x 1 x W feature map, got shape {tuple(feat.shape)}; the '
                         'backbone reduces the height to 1 only for the input height it was built for (MiniVGG: '
                         '32 pixels, e.g. RescaleToHeight(height=32))')
    return feat.squeeze(2).transpose(1, 2)


@MODELS.register_module()
class BiLSTMEncoder(nn.Module):
    """CRNN's recurrent layers: ``num_layers`` bidirectional LSTMs; between two of them a linear layer maps the
    2 x ``hidden_channels`` outputs back to ``hidden_channels`` (CRNN's "embedding"). With 2 layers and a linear
    CTC head this is MMOCR's CRNNDecoder (its last embedding is the head's classifier).

    Args:
        in_channels: channels of the backbone's feature map.
        hidden_channels: LSTM hidden size per direction.
        num_layers: stacked BiLSTMs (>= 1).
        shortcut: add a linear projection of the input frames to the output (a residual path around the LSTMs).
            Off in CRNN; on, a model trained from scratch leaves CTC's all-blank plateau far sooner, because the
            classifier sees the convolutional features from the first step while the LSTMs learn context.

    Forward: N x C x 1 x W feature map (or an N x T x C sequence) -> N x W x (2 * hidden_channels).
    ``out_channels = 2 * hidden_channels``.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 256, num_layers: int = 2,
                 shortcut: bool = False) -> None:
        super().__init__()
        if num_layers < 1 or hidden_channels < 1 or in_channels < 1:
            raise ValueError(f'BiLSTMEncoder: in_channels, hidden_channels and num_layers must be >= 1, got '
                             f'{in_channels}, {hidden_channels}, {num_layers}')
        self.lstms = nn.ModuleList()
        self.embeddings = nn.ModuleList()
        cin = in_channels
        for i in range(num_layers):
            self.lstms.append(nn.LSTM(cin, hidden_channels, bidirectional=True, batch_first=True))
            if i < num_layers - 1:
                self.embeddings.append(nn.Linear(2 * hidden_channels, hidden_channels))
                cin = hidden_channels
        self.shortcut = nn.Linear(in_channels, 2 * hidden_channels) if shortcut else None
        self.in_channels, self.out_channels = in_channels, 2 * hidden_channels

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        seq = x = feature_map_to_sequence(feat, 'BiLSTMEncoder')
        for i, lstm in enumerate(self.lstms):
            x, _ = lstm(x)
            if i < len(self.embeddings):
                x = self.embeddings[i](x)
        return x if self.shortcut is None else x + self.shortcut(seq)
