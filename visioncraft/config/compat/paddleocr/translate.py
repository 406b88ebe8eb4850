"""The generic part of the translation of a PaddleOCR config onto the internal :class:`~visioncraft.config.Config`
(:func:`translate_paddleocr`): the sections, ``Global`` (epochs, logging, checkpoints, evaluation interval, weights,
AMP, seed, VisualDL), the ``Train`` / ``Eval`` loaders, the hooks and the visualizer. ``Optimizer`` is
:mod:`.optim`, the weights :mod:`.checkpoints`, and the model type's own parts (``Architecture``, ``Loss``,
``PostProcess``, ``Metric``, datasets, transforms) its registered :mod:`translator <.translator>`."""
from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from visioncraft.config.config import Config

from .checkpoints import translate_weights
from .doc import PaddleOCRDoc, as_int
from .layout import GLOBAL_KEYS, SECTIONS
from .optim import translate_amp, translate_optimizer
from .translator import translator_for

__all__ = ['translate_paddleocr', 'VAL_HOOK_TYPE', 'DATASET_ALIASES']

#: older PaddleOCR dataset names -> the current ones (PaddleOCR 2.0's code and docs spell ``LMDBDateSet``)
DATASET_ALIASES = {'LMDBDateSet': 'LMDBDataSet'}

#: the hook that validates every N iterations (``Global.eval_batch_step``), named by its import path: the
#: registry imports the module when it builds the hook, so nothing has to import the CLI package first.
VAL_HOOK_TYPE = 'ValEveryNItersHook'
# Global keys whose true value asks for something this library does not do.
_UNSUPPORTED_TRUE = {'use_xpu': 'Kunlun XPU', 'use_npu': 'Ascend NPU', 'use_mlu': 'Cambricon MLU',
                     'use_gcu': 'Enflame GCU', 'use_wandb': 'Weights & Biases logging',
                     'use_tensorrt': 'TensorRT export'}


def translate_paddleocr(data: Mapping[str, Any], filename: str | None = None) -> Config:
    """Translate a PaddleOCR config dict (overrides already applied) into the internal :class:`Config`."""
    doc = PaddleOCRDoc(data, filename)
    unknown = [k for k in doc.data if k not in SECTIONS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), SECTIONS, n=2, cutoff=0.5)
        hint = f'; closest: {", ".join(close)}' if close else ''
        raise doc.error(str(unknown[0]), f'unknown top-level section (PaddleOCR sections: {", ".join(SECTIONS)})'
                                         f'{hint}')
    g = doc.check_keys(doc.section('Global'), list(GLOBAL_KEYS), 'Global')
    for key, what in _UNSUPPORTED_TRUE.items():
        if g.get(key):
            raise doc.error(f'Global.{key}', f'{what} is not supported; set it to false')
    task = translator_for(doc)
    epochs = as_int(doc.global_value('epoch_num'), 'Global.epoch_num', doc, 1)
    cfg: dict[str, Any] = dict(model=task.model())

    # data
    for split, train in (('Train', True), ('Eval', False)):
        if doc.data.get(split) is None:
            continue
        section = doc.check_keys(doc.section(split), ['dataset', 'loader', 'sampler'], split)
        if section.get('sampler') is not None:  # PaddleOCR's batch samplers (MultiScaleSampler)
            raise doc.error(f'{split}.sampler', 'PaddleOCR batch samplers (MultiScaleSampler) are not implemented; '
                                                'remove it (batches are drawn by loader.shuffle)')
        if not isinstance(section.get('dataset'), dict):
            raise doc.error(f'{split}.dataset', 'must be a mapping with name, data_dir, label_file_list, transforms')
        name = section['dataset'].get('name')
        if name in DATASET_ALIASES:  # PaddleOCR 2.0's spelling: the translators know the current name
            section['dataset']['name'] = DATASET_ALIASES[name]  # the doc's own copy: every reader sees it
        dataset = task.dataset(split, section['dataset'], task.pipeline(split))
        loader = _loader(doc, split, dataset, train)
        if train:
            cfg['train_dataloader'] = loader
        else:
            cfg['val_dataloader'] = loader
            cfg['test_dataloader'] = copy.deepcopy(loader)
    evaluator = task.evaluator() if 'val_dataloader' in cfg else None
    if evaluator is not None:
        cfg['val_evaluator'] = evaluator
        cfg['test_evaluator'] = copy.deepcopy(evaluator)
        cfg['val_cfg'] = dict()
        cfg['test_cfg'] = dict()
    else:
        for key in ('val_dataloader', 'test_dataloader'):
            cfg.pop(key, None)

    # schedule, optimizer
    # epoch-end validation is off: PaddleOCR validates every eval_batch_step iterations (the hook below)
    cfg['train_cfg'] = dict(by_epoch=True, max_epochs=epochs, val_begin=epochs + 1, val_interval=1)
    wrapper, schedulers = translate_optimizer(doc) if doc.data.get('Optimizer') is not None else (None, [])
    if wrapper is not None:
        if doc.global_value('use_amp'):
            wrapper = translate_amp(doc, wrapper)
        cfg['optim_wrapper'] = wrapper
        cfg['param_scheduler'] = schedulers

    # hooks, logging, visualisation
    interval = as_int(doc.global_value('print_batch_step'), 'Global.print_batch_step', doc, 1)
    save_every = as_int(doc.global_value('save_epoch_step'), 'Global.save_epoch_step', doc, 1)
    checkpoint: dict[str, Any] = dict(type='CheckpointHook', interval=save_every, save_last=True,
                                      filename_tmpl='iter_epoch_{}.pth')
    best = task.best_metric() if evaluator is not None else None
    if best:
        checkpoint.update(save_best=best, rule='greater')
    cfg['default_hooks'] = dict(logger=dict(type='LoggerHook', interval=interval), checkpoint=checkpoint,
                                visualization=dict(type='VisualizationHook', draw=False))
    ev = _eval_interval(doc)
    cfg['custom_hooks'] = [dict(type=VAL_HOOK_TYPE, begin=ev[0], interval=ev[1])] if ev and evaluator else []
    backends: list[dict] = [dict(type='LocalVisBackend')]
    if doc.global_value('use_visualdl'):
        backends.append(dict(type='TensorboardVisBackend'))
    cfg['visualizer'] = dict(task.visualizer(), vis_backends=backends)
    cfg['log_level'] = 'INFO'
    cfg['randomness'] = dict(seed=as_int(doc.global_value('seed'), 'Global.seed', doc), deterministic=False)
    cfg['env_cfg'] = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                          dist_cfg=dict(backend=None))
    if g.get('save_model_dir'):
        cfg['work_dir'] = str(g['save_model_dir'])

    # weights: checkpoints (resume) wins over pretrained_model (weights only)
    weights = translate_weights(doc, cfg['model'])
    cfg['load_from'], cfg['resume'] = weights['load_from'], weights['resume']
    cfg['paddleocr'] = dict(
        file=doc.label, model_type=task.model_type, algorithm=doc.section('Architecture').get('algorithm'),
        use_gpu=bool(doc.global_value('use_gpu')), infer_img=g.get('infer_img'),
        save_res_path=doc.global_value('save_res_path'), save_inference_dir=g.get('save_inference_dir'),
        checkpoints=weights['checkpoints'], pretrained_model=weights['pretrained_model'],
        inference_pipeline=task.inference_pipeline() if doc.data.get('Eval') is not None else None)
    return Config(cfg, filename=filename)


def _loader(doc: PaddleOCRDoc, split: str, dataset: dict, train: bool) -> dict:
    loader = doc.check_keys(doc.section(split).get('loader'),
                            ['shuffle', 'drop_last', 'batch_size_per_card', 'num_workers', 'use_shared_memory',
                             'collate_fn', 'sampler'], f'{split}.loader')
    for key in ('collate_fn', 'sampler'):
        if loader.get(key):
            raise doc.error(f'{split}.loader.{key}', f'custom PaddleOCR {key}s are not supported')
    workers = as_int(loader.get('num_workers', 0), f'{split}.loader.num_workers', doc)
    return dict(batch_size=as_int(loader.get('batch_size_per_card', 1), f'{split}.loader.batch_size_per_card',
                                   doc, 1),
                num_workers=workers, persistent_workers=workers > 0,
                drop_last=bool(loader.get('drop_last', train)),
                sampler=dict(type='DefaultSampler', shuffle=bool(loader.get('shuffle', train))),
                dataset=dataset)


def _eval_interval(doc: PaddleOCRDoc) -> tuple[int, int] | None:
    value = doc.global_value('eval_batch_step')
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise doc.error('Global.eval_batch_step', f'must be N or [start, N], got {value!r}')
        start, every = value
    else:
        start, every = 0, value
    return (as_int(start, 'Global.eval_batch_step', doc), as_int(every, 'Global.eval_batch_step', doc, 1))
