"""Top-down pose export (``TopdownPoseEstimator`` with a heatmap head, e.g. SimpleBaseline / HRNet, or a SimCC head,
e.g. RTMPose): the graph is backbone -> (neck) -> head on a batch of normalised person crops; the crop cutting
(``GetBBoxCenterScale``, ``TopdownAffine``), the flip test, the codec's decoding and the way back to image pixels
run in :class:`~visioncraft.export.pose_predictor.PosePredictor`, with the settings written to ``inference.json``.

Graph (``model.pt`` / ``model.onnx``): input ``input`` float32 N x 3 x h x w (the codec's ``input_size`` (w, h),
normalised and in the model's channel order); output

* heatmap heads: ``heatmaps`` float32 N x K x H x W (the head's raw output);
* SimCC heads: ``simcc`` float32 N x K x (Wx + Hy), the x logits (Wx = w * simcc_split_ratio bins) followed by the
  y logits (Hy bins) along the last axis: one output, so one array to transfer and to compare at export time;
  ``postprocess.simcc_x_bins`` says where to split.

Only the batch is dynamic: the crop size is the codec's ``input_size`` (the codec decodes heatmaps of its
``heatmap_size`` and SimCC vectors of its bin counts, and the SimCC heads' linear layers are sized for it).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..apis.inference_pipeline import inference_steps
from ..registry import EXPORTERS
from ..tasks.pose.models.estimator import TopdownPoseEstimator
from ..tasks.pose.models.data_preprocessor import PoseDataPreprocessor
from ..tasks.pose.models.heatmap_head import HeatmapHead
from ..tasks.pose.models.rtmcc_head import RTMCCHead, SimCCHead
from .core import Exporter, data_preprocessor_settings, plain
from .textdet import codec_settings

__all__ = ['PoseExporter', 'SimCCGraph', 'dataset_meta_settings', 'pose_preprocessor_settings', 'HEAD_OUTPUTS']

#: ``postprocess.head_output`` values: what the graph's one output holds
HEAD_OUTPUTS = ('heatmaps', 'simcc')


class SimCCGraph(nn.Module):
    """``model(x, mode='tensor')`` of a SimCC model, its ``(x (N, K, Wx), y (N, K, Hy))`` logits joined along the last
    axis: (N, K, Wx + Hy)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        simcc_x, simcc_y = self.model(x, mode='tensor')
        return torch.cat([simcc_x, simcc_y], dim=-1)


def dataset_meta_settings(meta: dict | None) -> dict[str, Any]:
    """A pose ``dataset_meta`` (``parse_pose_metainfo``'s: names, ``flip_indices``, colours, skeleton, sigmas...) as
    JSON-ready values (arrays to lists; ``keypoint_id2name``'s int keys become strings, restored on reading).
    Entries that are not plain data are left out."""
    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        try:
            out[str(key)] = plain(value)
        except TypeError:
            continue
    return out


def pose_preprocessor_settings(model: nn.Module) -> dict[str, Any]:
    """The model's data preprocessor as a config dict. ``PoseDataPreprocessor`` (stack, channel swap, ``(x - mean) /
    std``; its own forward only leaves the samples where they are) is stored as itself, so that the predictor runs
    the very class the checkpoint path runs; any other goes through :func:`.core.data_preprocessor_settings`."""
    pre = model.data_preprocessor
    if type(pre) is not PoseDataPreprocessor:
        return data_preprocessor_settings(model)
    out = dict(type='PoseDataPreprocessor', mean=None, std=None, bgr_to_rgb=bool(pre.swap_channels),
               pad_size_divisor=int(pre.pad_size_divisor), pad_value=float(pre.pad_value))
    if pre._normalize:
        out['mean'] = [float(v) for v in pre.mean.flatten()]
        out['std'] = [float(v) for v in pre.std.flatten()]
    return out


@EXPORTERS.register_module()
class PoseExporter(Exporter):
    """Top-down pose estimators (``TopdownPoseEstimator`` and subclasses) whose head is a ``HeatmapHead`` (codec
    ``MSRAHeatmap`` / ``UDPHeatmap``) or a SimCC head (``RTMCCHead``, ``SimCCHead``; codec ``SimCCLabel``)."""

    task = 'pose'
    input_names = ('input',)

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        head = getattr(model, 'head', None)
        return isinstance(model, TopdownPoseEstimator) and isinstance(head, (HeatmapHead, RTMCCHead, SimCCHead))

    def __init__(self, model: nn.Module, cfg) -> None:
        super().__init__(model, cfg)
        if model.head.decoder is None:
            raise ValueError(f'export: the {type(model.head).__name__} of {type(model).__name__} has no decoder '
                             '(codec); the predictor decodes with it: set model.head.decoder in the config')
        self.head_output = 'simcc' if isinstance(model.head, (RTMCCHead, SimCCHead)) else 'heatmaps'
        self.output_names = (self.head_output,)
        self.dynamic_axes = {'input': {0: 'batch'}, self.head_output: {0: 'batch'}}
        size = getattr(model.head.decoder, 'input_size', None)
        if size is None:
            raise ValueError(f'export: the codec {type(model.head.decoder).__name__} has no input_size (w, h)')
        self.input_size = (int(size[0]), int(size[1]))

    def graph(self) -> nn.Module:
        if self.head_output == 'simcc':
            return SimCCGraph(self.model)
        return super().graph()

    def example_input(self) -> torch.Tensor:
        """Two random normalised crops of the codec's input size (two, so that no size of 1 gets traced in)."""
        w, h = self.input_size
        return torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))

    def _codec_config(self) -> dict[str, Any]:
        """The config of the head's decoder as the model config gives it (the very dict the head was built from), or
        read back from the codec's attributes."""
        head_cfg = (self.cfg.get('model') or {}).get('head') or {}
        decoder = head_cfg.get('decoder') if isinstance(head_cfg, dict) else None
        if isinstance(decoder, dict) and str(decoder.get('type', '')).rsplit('.', 1)[-1] == \
                type(self.model.head.decoder).__name__:
            return plain(decoder)
        return codec_settings(self.model.head.decoder)

    def inference_settings(self) -> dict[str, Any]:
        model, head = self.model, self.model.head
        test_cfg = dict(model.test_cfg)
        meta = dataset_meta_settings(getattr(model, 'dataset_meta', None))
        if test_cfg.get('flip_test') and 'flip_indices' not in meta:
            raise ValueError('export: test_cfg.flip_test is on but the model has no dataset_meta flip_indices (build '
                             'it with a pose config whose dataset has metainfo, or set '
                             'model.test_cfg.flip_test=False)')
        post = dict(head_output=self.head_output, codec=self._codec_config(),
                    flip_test=bool(test_cfg.get('flip_test', False)),
                    flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                    shift_heatmap=plain(test_cfg.get('shift_heatmap', True)),
                    num_keypoints=int(head.out_channels))
        if self.head_output == 'simcc':
            post['simcc_x_bins'] = int(round(self.input_size[0] * head.simcc_split_ratio))
            post['simcc_y_bins'] = int(round(self.input_size[1] * head.simcc_split_ratio))
        return dict(
            preprocess=dict(pipeline=[plain(s) for s in inference_steps(self.cfg, 'export', from_array=True)],
                            scope=self.cfg.get('default_scope', 'mmpose'), input_size=list(self.input_size),
                            data_preprocessor=pose_preprocessor_settings(model)),
            postprocess=post,
            dataset_meta=meta)
