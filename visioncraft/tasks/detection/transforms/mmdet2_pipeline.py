"""MMDetection 2.x's pipeline-only transforms, for a clear error where one reaches the registry.

A config in the MMDetection 2.x layout is translated as it loads (:mod:`visioncraft.config.compat.mmdet2`):
``Normalize`` and the ``Pad`` after it become the model's ``DetDataPreprocessor``, the formatting transforms and
``Collect`` one ``PackDetInputs``, ``MultiScaleFlipAug`` its transforms at its one scale. These names are registered
in the ``mmdet`` scope (a 3.x config's ``default_scope = 'mmdet'``, or ``type='mmdet.Normalize'``) so that one of
them in a 3.x-layout pipeline says what to write instead, rather than that no such transform exists. Building one
is always that error (a :class:`~visioncraft.config.ConfigError`, named with its key path by the registry).
"""
from __future__ import annotations

from visioncraft.config import ConfigError
from visioncraft.registry import TRANSFORMS

__all__ = ['MMDET2_ONLY_TRANSFORMS']

#: 2.x transform -> what a 3.x-layout config writes instead
MMDET2_ONLY_TRANSFORMS = {
    'Normalize': "model.data_preprocessor=dict(type='DetDataPreprocessor', mean=..., std=..., bgr_to_rgb=...) "
                 '(normalisation runs on the batch, in the model)',
    'DefaultFormatBundle': "dict(type='PackDetInputs') at the end of the pipeline",
    'ImageToTensor': "dict(type='PackDetInputs') at the end of the pipeline",
    'ToTensor': "dict(type='PackDetInputs') at the end of the pipeline",
    'Transpose': "dict(type='PackDetInputs') at the end of the pipeline",
    'ToDataContainer': "dict(type='PackDetInputs') at the end of the pipeline",
    'WrapFieldsToLists': "dict(type='PackDetInputs') at the end of the pipeline",
    'Collect': "dict(type='PackDetInputs') at the end of the pipeline (it packs the image, the annotations "
               'loaded and the meta keys)',
    'MultiScaleFlipAug': "its transforms in the pipeline itself, with dict(type='Resize', scale=(w, h), "
                         'keep_ratio=True) at its one scale (there is no test-time augmentation here)',
}


def _placeholder(name: str, instead: str) -> type:
    def __init__(self, *args, **kwargs) -> None:
        raise ConfigError(f'{name} is an MMDetection 2.x transform, which this MMEngine-layout config cannot use: '
                          f'write {instead}; a config wholly in the 2.x layout (data=, evaluation=, lr_config=) is '
                          'translated, this transform included')

    return type(name, (), {'__init__': __init__, '__module__': __name__,
                           '__doc__': f'MMDetection 2.x ``{name}``: building it explains what replaced it.'})


for _name, _instead in MMDET2_ONLY_TRANSFORMS.items():
    TRANSFORMS.register_module(f'mmdet.{_name}', module=_placeholder(_name, _instead))
