"""Optimisation: torch optimizers in the registry, optimizer wrappers (accumulation, clipping, AMP), the
param-group constructor (``paramwise_cfg``) and stateless parameter schedulers. Importing this package
registers everything in OPTIMIZERS, OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS and PARAM_SCHEDULERS."""
from .constructor import NORM_LAYERS, DefaultOptimWrapperConstructor, build_optim_wrapper
from .optimizer import TORCH_OPTIMIZERS, register_torch_optimizers
from .scheduler import (ConstantLR, ConstantMomentum, CosineAnnealingLR, CosineAnnealingMomentum, ExponentialLR,
                        ExponentialMomentum, LinearLR, LinearMomentum, MultiStepLR, MultiStepMomentum, OneCycleLR,
                        ParamScheduler, PolyLR, PolyMomentum, StepLR, StepMomentum, apply_param_schedulers,
                        build_param_schedulers)
from .wrapper import AmpOptimWrapper, OptimWrapper

__all__ = [
    'OptimWrapper', 'AmpOptimWrapper', 'DefaultOptimWrapperConstructor', 'build_optim_wrapper', 'NORM_LAYERS',
    'TORCH_OPTIMIZERS', 'register_torch_optimizers',
    'ParamScheduler', 'LinearLR', 'ConstantLR', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR',
    'PolyLR', 'OneCycleLR', 'LinearMomentum', 'ConstantMomentum', 'StepMomentum', 'MultiStepMomentum',
    'ExponentialMomentum', 'CosineAnnealingMomentum', 'PolyMomentum',
    'build_param_schedulers', 'apply_param_schedulers',
]
