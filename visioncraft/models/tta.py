"""Test-time augmentation models: run the wrapped model on every view of a sample and merge the predictions.

A TTA model is built from a config's ``tta_model`` with the model itself as ``module`` (``--tta`` of ``tools/test.py``
does this, and swaps the test pipeline for ``tta_pipeline``, whose :class:`~visioncraft.data.TestTimeAug` makes the
views). Its ``test_step`` takes a batch laid out as ``inputs[view][sample]`` / ``data_samples[view][sample]``, runs
``module.test_step`` once per view (a batch of every sample's view ``v``), and hands each sample's list of
predictions to :meth:`BaseTTAModel.merge_preds`, which the task's TTA model implements
(:class:`visioncraft.tasks.detection.models.tta.DetTTAModel`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['BaseTTAModel']


class BaseTTAModel(nn.Module):
    """Runs ``module`` on every test-time view and merges each sample's predictions.

    Args:
        module: the model (a config, built through ``MODELS``, or a module).
    """

    def __init__(self, *, module: dict | nn.Module) -> None:
        super().__init__()
        self.module = module if isinstance(module, nn.Module) else MODELS.build(module, key_path='model.module')
        self.data_preprocessor = getattr(self.module, 'data_preprocessor', None)

    def merge_preds(self, views: list[Any]) -> Any:
        """One sample's predictions from its list of per-view predictions."""
        raise NotImplementedError

    @torch.no_grad()
    def test_step(self, data: dict) -> list:
        inputs, samples = data.get('inputs'), data.get('data_samples')
        if not isinstance(inputs, (list, tuple)) or not inputs or not isinstance(inputs[0], (list, tuple)):
            raise ValueError(f'{type(self).__name__}: the batch is not laid out as inputs[view][sample]; the test '
                             "pipeline must end with TestTimeAug (the config's tta_pipeline)")
        num_views, batch = len(inputs), len(inputs[0])
        if samples is None or len(samples) != num_views:
            raise ValueError(f'{type(self).__name__}: {num_views} views of inputs but '
                             f'{0 if samples is None else len(samples)} of data_samples')
        per_view = [self.module.test_step(dict(inputs=list(inputs[v]), data_samples=list(samples[v])))
                    for v in range(num_views)]
        return [self.merge_preds([per_view[v][i] for v in range(num_views)]) for i in range(batch)]

    val_step = test_step

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


__all__ += ['apply_tta']

#: what ``--tta`` uses when a detection config has no ``tta_model`` (MMDetection's default)
DEFAULT_DET_TTA_MODEL = dict(type='DetTTAModel', tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                                                               max_per_img=100))


def apply_tta(cfg, *, log=None):
    """``cfg`` (a :class:`~visioncraft.config.Config`) set up for test-time augmentation, in place: ``model`` becomes
    ``tta_model`` wrapping it, and the innermost test dataset's ``pipeline`` becomes ``tta_pipeline``.

    A config without ``tta_model`` gets :data:`DEFAULT_DET_TTA_MODEL`; one without ``tta_pipeline`` gets the test
    pipeline with its last transform (the packing) replaced by ``TestTimeAug`` of a horizontal flip and no flip, each
    followed by that packing (both as MMDetection's ``--tta`` does; ``log`` is told). Returns ``cfg``."""
    say = log or (lambda msg: None)
    if 'test_dataloader' not in cfg or not isinstance(cfg['test_dataloader'], dict) \
            or 'dataset' not in cfg['test_dataloader']:
        raise KeyError('--tta: the config has no test_dataloader.dataset to give the tta_pipeline to')
    dataset = cfg['test_dataloader']['dataset']
    path = 'test_dataloader.dataset'
    while isinstance(dataset, dict) and 'pipeline' not in dataset and isinstance(dataset.get('dataset'), dict):
        dataset, path = dataset['dataset'], path + '.dataset'
    if not isinstance(dataset, dict) or 'pipeline' not in dataset:
        raise KeyError(f'--tta: {path} has no pipeline to replace with the tta_pipeline')
    if cfg.get('tta_model') is None:
        say('--tta: the config has no tta_model; using DetTTAModel (class-wise NMS 0.5 over the views, 100 per image)')
        cfg['tta_model'] = dict(DEFAULT_DET_TTA_MODEL)
    if cfg.get('tta_pipeline') is None:
        pipeline = [dict(t) for t in dataset['pipeline']]
        if not pipeline:
            raise KeyError(f'--tta: {path}.pipeline is empty and the config has no tta_pipeline')
        pack = pipeline[-1]
        say(f'--tta: the config has no tta_pipeline; using the test pipeline with its last step ({pack.get("type")}) '
            'run on a horizontally flipped and an unflipped view')
        pipeline[-1] = dict(type='TestTimeAug', transforms=[
            [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)], [pack]])
        cfg['tta_pipeline'] = pipeline
    tta_model = dict(cfg['tta_model'])
    if 'module' in tta_model:
        raise KeyError('tta_model.module is set by --tta (the model); remove it from tta_model')
    cfg['model'] = dict(tta_model, module=cfg['model'])
    dataset['pipeline'] = cfg['tta_pipeline']
    return cfg
