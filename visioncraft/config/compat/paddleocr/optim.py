"""PaddleOCR's ``Optimizer`` section (optimizer, ``lr`` schedule, ``regularizer``, gradient clipping) and
``Global.use_amp`` -> the internal ``optim_wrapper`` and ``param_scheduler``."""
from __future__ import annotations

import difflib
from typing import Any

from .doc import PaddleOCRDoc, as_int

__all__ = ['OPTIMIZERS', 'LR_NAMES', 'translate_optimizer', 'translate_lr_schedule', 'translate_amp']

#: PaddleOCR optimizer name -> PyTorch optimizer
OPTIMIZERS = {'Adam': 'Adam', 'AdamW': 'AdamW', 'Momentum': 'SGD', 'SGD': 'SGD', 'RMSProp': 'RMSprop',
              'Adadelta': 'Adadelta'}
#: the PaddleOCR ``Optimizer.lr.name`` schedules translated
LR_NAMES = ('Const', 'Cosine', 'Linear', 'Piecewise', 'Step', 'MultiStepDecay', 'DecayLearningRate')


def translate_optimizer(doc: PaddleOCRDoc) -> tuple[dict, list[dict]]:
    """(optim_wrapper, param_scheduler) from the Optimizer section."""
    opt = doc.section('Optimizer')
    name = doc.named(opt, 'Optimizer', OPTIMIZERS)
    common = ['name', 'lr', 'regularizer', 'clip_norm', 'clip_norm_global']
    per_name = {'Adam': ['beta1', 'beta2', 'epsilon', 'lazy_mode'],
                'AdamW': ['beta1', 'beta2', 'epsilon', 'weight_decay', 'multi_precision', 'no_weight_decay_name',
                          'one_dim_param_no_weight_decay'],
                'Momentum': ['momentum'], 'SGD': [], 'RMSProp': ['momentum', 'rho', 'epsilon'],
                'Adadelta': ['epsilon', 'rho']}
    opt = doc.check_keys(opt, common + per_name[name], 'Optimizer')
    lr_cfg = opt.get('lr')
    if not isinstance(lr_cfg, dict) or 'learning_rate' not in lr_cfg and lr_cfg.get('name') != 'Piecewise':
        raise doc.error('Optimizer.lr', f'needs learning_rate (e.g. lr: {{name: Cosine, learning_rate: 0.001}}), '
                                        f'got {lr_cfg!r}')
    base_lr, schedulers = translate_lr_schedule(doc, lr_cfg)
    optimizer: dict[str, Any] = dict(type=OPTIMIZERS[name], lr=base_lr)
    if name in ('Adam', 'AdamW'):
        optimizer['betas'] = (float(opt.get('beta1', 0.9)), float(opt.get('beta2', 0.999)))
        optimizer['eps'] = float(opt.get('epsilon', 1e-8))
    elif name == 'Momentum':
        if 'momentum' not in opt:
            raise doc.error('Optimizer.momentum', 'Momentum needs momentum (e.g. 0.9)')
        optimizer['momentum'] = float(opt['momentum'])
    elif name == 'RMSProp':
        optimizer.update(alpha=float(opt.get('rho', 0.95)), eps=float(opt.get('epsilon', 1e-6)),
                         momentum=float(opt.get('momentum', 0.0)))
    elif name == 'Adadelta':
        optimizer.update(rho=float(opt.get('rho', 0.95)), eps=float(opt.get('epsilon', 1e-8)))
    if opt.get('lazy_mode'):
        raise doc.error('Optimizer.lazy_mode', 'lazy (sparse) Adam updates are not supported')
    reg = opt.get('regularizer')
    wrapper: dict[str, Any] = dict(type='OptimWrapper', optimizer=optimizer)
    if name == 'AdamW':
        if reg:
            raise doc.error('Optimizer.regularizer', 'AdamW takes its decoupled decay from Optimizer.weight_decay; '
                                                     'remove the regularizer')
        optimizer['weight_decay'] = float(opt.get('weight_decay', 0.01) if opt.get('weight_decay') is not None
                                          else 0.01)
        if opt.get('no_weight_decay_name') or opt.get('one_dim_param_no_weight_decay'):
            custom = {n: dict(decay_mult=0.0) for n in str(opt.get('no_weight_decay_name') or '').split()}
            wrapper['paramwise_cfg'] = dict(custom_keys=custom) if custom else {}
            if opt.get('one_dim_param_no_weight_decay'):
                wrapper['paramwise_cfg'].update(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0)
    elif reg:
        reg = doc.check_keys(reg, ['name', 'factor'], 'Optimizer.regularizer')
        reg_name = doc.named(reg, 'Optimizer.regularizer', ('L2', 'L1'))
        if reg_name == 'L1':
            raise doc.error('Optimizer.regularizer.name', 'L1 decay is not supported (PyTorch optimizers '
                                                          'implement L2 weight decay); use L2')
        # Paddle's L2Decay adds factor * w to the gradient: PyTorch's (coupled) weight_decay
        optimizer['weight_decay'] = float(reg.get('factor', 0.0))
    if opt.get('clip_norm') is not None and opt.get('clip_norm_global') is not None:
        raise doc.error('Optimizer.clip_norm', 'give clip_norm or clip_norm_global, not both')
    if opt.get('clip_norm_global') is not None:
        wrapper['clip_grad'] = dict(max_norm=float(opt['clip_norm_global']))
    elif opt.get('clip_norm') is not None:
        # Paddle's ClipGradByNorm clips each gradient tensor by its own norm; the closest PyTorch clip is the
        # global norm (documented in docs/paddleocr.md)
        wrapper['clip_grad'] = dict(max_norm=float(opt['clip_norm']))
    return wrapper, schedulers


def translate_lr_schedule(doc: PaddleOCRDoc, lr: dict) -> tuple[float, list[dict]]:
    """(base lr, param_scheduler list). PaddleOCR steps its schedules every iteration and, with
    ``warmup_epoch``, starts the decay when the linear warm-up (from 0) ends; the schedulers here are epoch
    configs converted to iterations (``convert_to_iter_based``), so they do the same."""
    name = lr.get('name', 'Const')
    if name not in LR_NAMES:
        close = difflib.get_close_matches(str(name), LR_NAMES, n=2, cutoff=0.5)
        hint = f'; closest: {", ".join(close)}' if close else ''
        raise doc.error('Optimizer.lr.name', f'{name!r} is not supported (supported: {", ".join(LR_NAMES)}){hint}')
    keys = {'Const': ['learning_rate'], 'Cosine': ['learning_rate'],
            'Linear': ['learning_rate', 'end_lr', 'power', 'epochs'],
            'Piecewise': ['decay_epochs', 'values', 'learning_rate'], 'Step': ['learning_rate', 'step_size', 'gamma'],
            'MultiStepDecay': ['learning_rate', 'milestones', 'gamma'],
            'DecayLearningRate': ['learning_rate', 'factor', 'end_lr']}[name]
    lr = doc.check_keys(lr, ['name', 'warmup_epoch', 'last_epoch'] + keys, 'Optimizer.lr')
    epochs = as_int(doc.global_value('epoch_num'), 'Global.epoch_num', doc, 1)
    warm = lr.get('warmup_epoch', 0) or 0
    if isinstance(warm, bool) or not isinstance(warm, (int, float)) or warm < 0 or warm != int(warm):
        raise doc.error('Optimizer.lr.warmup_epoch', f'must be a whole number of epochs here, got {warm!r} '
                                                     '(the epoch length is only known when training starts)')
    warm = int(warm)
    if name == 'Piecewise':
        values = [float(v) for v in lr.get('values') or []]
        bounds = [as_int(e, 'Optimizer.lr.decay_epochs', doc) for e in lr.get('decay_epochs') or []]
        if len(values) != len(bounds) + 1:
            raise doc.error('Optimizer.lr.values', f'needs one more value than decay_epochs, got {values} and '
                                                   f'{bounds}')
        if any(v <= 0 for v in values[:-1]):
            raise doc.error('Optimizer.lr.values', f'must be > 0 (the schedule is a chain of ratios), got {values}')
        base = values[0]
    else:
        base = float(lr['learning_rate'])
    it = dict(by_epoch=True, convert_to_iter_based=True)
    out: list[dict] = []
    if warm:
        out.append(dict(type='LinearLR', start_factor=0.0, end_factor=1.0, begin=0, end=warm, **it))
    if name == 'Cosine':
        out.append(dict(type='CosineAnnealingLR', T_max=epochs, eta_min=0.0, begin=warm, end=warm + epochs, **it))
    elif name in ('Linear', 'DecayLearningRate'):
        power = float(lr.get('power', 1.0) if name == 'Linear' else lr.get('factor', 0.9))
        end_lr = 0.0 if name == 'DecayLearningRate' else float(lr.get('end_lr', 0.0))
        length = as_int(lr.get('epochs', epochs), 'Optimizer.lr.epochs', doc, 1) if name == 'Linear' else epochs
        out.append(dict(type='PolyLR', eta_min=end_lr, power=power, begin=warm, end=warm + length, **it))
    elif name == 'Piecewise':
        for b, (v0, v1) in zip(bounds, zip(values, values[1:])):
            out.append(dict(type='MultiStepLR', milestones=[b], gamma=v1 / v0, begin=warm,
                            end=max(warm + epochs, warm + b + 1), **it))
    elif name == 'Step':
        out.append(dict(type='StepLR', step_size=as_int(lr.get('step_size'), 'Optimizer.lr.step_size', doc, 1),
                        gamma=float(lr.get('gamma', 0.1)), begin=warm, end=warm + epochs, **it))
    elif name == 'MultiStepDecay':
        out.append(dict(type='MultiStepLR', milestones=[int(m) for m in lr.get('milestones') or []],
                        gamma=float(lr.get('gamma', 0.1)), begin=warm, end=warm + epochs, **it))
    return base, out


def translate_amp(doc: PaddleOCRDoc, wrapper: dict) -> dict:
    """``Global.use_amp``: the AmpOptimWrapper (as ``--amp``); ``scale_loss`` / ``use_dynamic_loss_scaling``
    as Paddle's GradScaler (dynamic, starting at scale_loss, unless use_dynamic_loss_scaling is false)."""
    out = dict(wrapper, type='AmpOptimWrapper')
    scale, dynamic = doc.global_value('scale_loss'), doc.global_value('use_dynamic_loss_scaling')
    if scale is None and dynamic is None:
        out['loss_scale'] = 'dynamic'
    elif dynamic is False:
        out['loss_scale'] = float(1.0 if scale is None else scale)
    else:
        out['loss_scale'] = dict(init_scale=float(scale)) if scale is not None else 'dynamic'
    level = doc.global_value('amp_level')
    if level not in ('O1', 'O2', 'OD'):
        raise doc.error('Global.amp_level', f"must be 'O1', 'O2' or 'OD', got {level!r}")
    dtype = doc.global_value('amp_dtype')
    if dtype not in ('float16', 'bfloat16'):
        raise doc.error('Global.amp_dtype', f"must be 'float16' or 'bfloat16', got {dtype!r}")
    out['dtype'] = dtype
    return out
