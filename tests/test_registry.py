"""Registries: every built-in registers on import; errors name the file, the key path and close names."""
from __future__ import annotations

import sys
import textwrap

import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.config import Config
from visioncraft.registry import (DATASETS, HOOKS, LOOPS, METRICS, MODELS, OPTIMIZERS, PARAM_SCHEDULERS,
                                  TRANSFORMS, VISBACKENDS, Registry, RegistryError, config_file_context)


def test_builtins_are_registered_on_import():
    for reg, names in ((MODELS, ['TinyClassifier', 'ImgDataPreprocessor', 'ResNet', 'FPN', 'RetinaNet']),
                       (HOOKS, ['CheckpointHook', 'LoggerHook', 'EMAHook', 'EarlyStoppingHook', 'ProfilerHook',
                                'EmptyCacheHook', 'IterTimerHook', 'ParamSchedulerHook', 'DistSamplerSeedHook']),
                       (LOOPS, ['EpochBasedTrainLoop', 'IterBasedTrainLoop', 'ValLoop', 'TestLoop']),
                       (OPTIMIZERS, ['SGD', 'AdamW']), (PARAM_SCHEDULERS, ['LinearLR', 'OneCycleLR', 'PolyLR']),
                       (DATASETS, ['ConcatDataset', 'RepeatDataset', 'ShapesClassificationDataset', 'CocoDataset',
                                   'VOCDataset', 'DetShapesDataset']),
                       (TRANSFORMS, ['LoadImageFromFile', 'LoadImageFromNDArray', 'RandomFlip', 'PackInputs', 'Resize',
                                     'RandomCrop', 'Pad', 'LoadAnnotations', 'PackDetInputs']),
                       (METRICS, ['Accuracy', 'DumpResults', 'CocoMetric', 'VOCMetric']),
                       (VISBACKENDS, ['LocalVisBackend', 'TensorboardVisBackend'])):
        for n in names:
            assert n in reg, (reg.name, n)


def test_unknown_type_names_file_key_path_and_closest(tmp_path):
    with config_file_context('configs/my_exp.py'):
        with pytest.raises(RegistryError) as exc:
            MODELS.build(dict(type='TinyClasifier', num_classes=3), key_path='model')
    msg = str(exc.value)
    assert 'configs/my_exp.py: model' in msg and "'TinyClasifier'" in msg and "'TinyClassifier'" in msg


def test_nested_key_paths_and_bad_arguments():
    with pytest.raises(TypeError) as exc:
        MODELS.build(dict(type='TinyClassifier', num_classes=3, widht=3), key_path='model')
    assert 'model: cannot build TinyClassifier' in str(exc.value) and 'widths' in str(exc.value)
    with pytest.raises(RegistryError, match=r'model\.data_preprocessor: type=.ImgPreproc'):
        MODELS.build(dict(type='TinyClassifier', num_classes=3, data_preprocessor=dict(type='ImgPreproc')),
                     key_path='model')


def test_type_may_be_a_class_a_dotted_path_or_a_foreign_scope():
    assert isinstance(OPTIMIZERS.build(dict(type=torch.optim.SGD, params=[torch.nn.Parameter(torch.ones(1))],
                                            lr=0.1)), torch.optim.SGD)
    assert MODELS.get('torch.nn.Linear') is torch.nn.Linear
    assert MODELS.get('mmdet.TinyClassifier') is MODELS.get('TinyClassifier')


def test_duplicate_registration_is_an_error():
    reg = Registry('thing')

    @reg.register_module()
    class A:
        pass

    class B:
        pass

    with pytest.raises(RegistryError, match="'A' is already taken"):
        reg.register_module(name='A', module=B)
    reg.register_module(name='A', force=True, module=B)
    assert reg.get('A') is B


def test_custom_imports_register_user_modules(tmp_path, monkeypatch):
    (tmp_path / 'my_ext.py').write_text(textwrap.dedent('''
        from visioncraft.registry import HOOKS
        from visioncraft.engine.hooks import Hook
        @HOOKS.register_module()
        class MyHook(Hook):
            pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("custom_imports = dict(imports=['my_ext'])\n")
    Config.fromfile(cfg_file)
    assert 'MyHook' in HOOKS
    sys.modules.pop('my_ext', None)
