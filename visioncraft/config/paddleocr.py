"""PaddleOCR-layout YAML configs, read onto the internal config (the one ``.py`` recipes produce).

A file is a PaddleOCR config when it is a ``.yml`` / ``.yaml`` whose top level has ``Global`` and
``Architecture`` (:func:`is_paddleocr_config`). :func:`load_paddleocr_config` reads it, applies ``-o`` overrides
to the PaddleOCR keys FIRST (:func:`apply_paddleocr_overrides`, strict: an unknown key is an error naming the
file, the key and the closest existing keys), then translates it (:func:`translate_paddleocr`):

* here, the parts every model type shares: ``Global`` (epochs, logging, checkpoints, evaluation interval,
  weights to load or resume, AMP, seed, VisualDL), ``Optimizer`` (optimizer, ``lr`` schedule, ``regularizer``,
  gradient clipping) and the ``Train`` / ``Eval`` ``loader`` settings;
* in a per-``Architecture.model_type`` translator (``det`` lives in ``visioncraft.tasks.textdet``), looked up in
  a small registry that the task packages fill (:func:`register_paddleocr_translator`): ``Architecture``,
  ``Loss``, ``PostProcess``, ``Metric``, the datasets and their task-specific transforms.

The result is a :class:`~visioncraft.config.Config` with ``model``, ``train_dataloader``, ``val_dataloader``,
``test_dataloader``, ``val_evaluator``, ``test_evaluator``, ``optim_wrapper``, ``param_scheduler``,
``train_cfg``, ``val_cfg``, ``test_cfg``, ``default_hooks``, ``custom_hooks``, ``visualizer``, ``work_dir``,
``load_from``, ``resume``, ``randomness``, plus ``paddleocr``: the PaddleOCR run settings the tools read
(``use_gpu``, ``infer_img``, ``save_res_path``, ``save_inference_dir``, ``checkpoints``, ``pretrained_model``,
``model_type``, ``algorithm``). docs/paddleocr.md lists every key and how it maps.

This module imports neither ``visioncraft.engine`` nor ``visioncraft.tasks``.
"""
from __future__ import annotations

import ast
import copy
import difflib
import glob
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from ..fileio.checkpoint import read_last_checkpoint
from .config import Config, ConfigError

__all__ = ['is_paddleocr_config', 'load_paddleocr_yaml', 'apply_paddleocr_overrides', 'translate_paddleocr',
           'load_paddleocr_config', 'register_paddleocr_translator', 'paddleocr_translators',
           'PaddleOCRDoc', 'PaddleOCRTaskTranslator', 'resolve_checkpoint', 'parse_number_expr',
           'GLOBAL_KEYS', 'VAL_HOOK_TYPE']

#: the optional ``Global`` keys PaddleOCR documents (config.md, tools/program.py, train.py, infer_*.py), with
#: the default they take when the YAML omits them. Any of them may be set with ``-o`` even when absent.
GLOBAL_KEYS: dict[str, Any] = {
    # translated
    'use_gpu': True, 'epoch_num': 500, 'print_batch_step': 10, 'save_model_dir': None, 'save_epoch_step': 3,
    'eval_batch_step': None, 'pretrained_model': None, 'checkpoints': None, 'save_inference_dir': None,
    'use_visualdl': False, 'infer_img': None, 'save_res_path': './output/det_db/predicts_db.txt', 'use_amp': False,
    'scale_loss': None, 'use_dynamic_loss_scaling': None, 'amp_level': 'O1', 'amp_dtype': 'float16', 'seed': 1024,
    # read by the model-type translators (recognition: issue 5)
    'character_dict_path': None, 'max_text_length': 25, 'use_space_char': True, 'label_list': None,
    'character_type': None, 'infer_mode': False, 'd2s_train_image_shape': None,
    # accepted, no effect here (docs/paddleocr.md says why)
    'log_smooth_window': 20, 'cal_metric_during_train': False, 'load_static_weights': True, 'distributed': False,
    'debug': False, 'use_xpu': False, 'use_npu': False, 'use_mlu': False, 'use_gcu': False, 'use_wandb': False,
    'uniform_output_enabled': False, 'amp_custom_black_list': None, 'amp_custom_white_list': None,
    'save_model_name': None, 'model_name': None, 'export_with_pir': False, 'use_tensorrt': False,
    'profiler_options': None,
}
# Global keys whose true value asks for something this library does not do.
_UNSUPPORTED_TRUE = {'use_xpu': 'Kunlun XPU', 'use_npu': 'Ascend NPU', 'use_mlu': 'Cambricon MLU',
                     'use_gcu': 'Enflame GCU', 'use_wandb': 'Weights & Biases logging',
                     'use_tensorrt': 'TensorRT export'}
_SECTIONS = ('Global', 'Architecture', 'Loss', 'Optimizer', 'PostProcess', 'Metric', 'Train', 'Eval')
_OPTIMIZERS = {'Adam': 'Adam', 'AdamW': 'AdamW', 'Momentum': 'SGD', 'SGD': 'SGD', 'RMSProp': 'RMSprop',
               'Adadelta': 'Adadelta'}
_LR_NAMES = ('Const', 'Cosine', 'Linear', 'Piecewise', 'Step', 'MultiStepDecay', 'DecayLearningRate')
#: the hook that validates every N iterations (``Global.eval_batch_step``), named by its import path: the
#: registry imports the module when it builds the hook, so nothing has to import the CLI package first.
VAL_HOOK_TYPE = 'ValEveryNItersHook'


# -- detection and loading ------------------------------------------------------------------------------
def is_paddleocr_config(path: str | os.PathLike[str] | None) -> bool:
    """True for a ``.yml`` / ``.yaml`` file whose top level has ``Global`` and ``Architecture``."""
    if path is None:
        return False
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in ('.yml', '.yaml') or not os.path.isfile(path):
        return False
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return False  # the regular loader reports the error with the line
    return isinstance(data, dict) and 'Global' in data and 'Architecture' in data


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_paddleocr_yaml(path: str | os.PathLike[str]) -> dict:
    """The PaddleOCR config in ``path`` as plain dicts and lists (``_BASE_`` files are merged first, as the
    regular loader does)."""
    cfg = Config.fromfile(path, import_custom_modules=False)
    data = _plain(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg.items()))
    missing = [s for s in ('Global', 'Architecture') if not isinstance(data.get(s), dict)]
    if missing:
        raise ConfigError(f'{cfg.filename}: a PaddleOCR config needs the mappings Global and Architecture '
                          f'(missing or not a mapping: {", ".join(missing)})')
    return data


# -- overrides -------------------------------------------------------------------------------------------
def _dotted(value: Any, prefix: str = '') -> list[str]:
    out = []
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        path = f'{prefix}.{k}' if prefix else str(k)
        out.append(path)
        out.extend(_dotted(v, path))
    return out


def _closest(key: str, doc: Mapping[str, Any]) -> str:
    candidates = _dotted(doc) + [f'Global.{k}' for k in GLOBAL_KEYS] + ['Optimizer.base_lr']
    close = difflib.get_close_matches(key, sorted(set(candidates)), n=3, cutoff=0.6)
    return f' Closest existing keys: {", ".join(close)}.' if close else ''


def apply_paddleocr_overrides(doc: Mapping[str, Any], options: Mapping[str, Any] | None,
                              filename: str | None = None) -> dict:
    """A copy of the PaddleOCR dict ``doc`` with ``{'Section.key.sub': value}`` overrides applied.

    Strict, unlike PaddleOCR (which silently adds unknown keys): every key must exist, except the documented
    optional ``Global`` keys (:data:`GLOBAL_KEYS`) and keys written with a leading ``+`` (which are created).
    List items are addressed by index (``Train.dataset.transforms.3.EastRandomCropData.size``).
    ``Optimizer.base_lr`` is an alias of ``Optimizer.lr.learning_rate``. As in PaddleOCR a value replaces what
    was there (a mapping replaces a whole mapping: ``-o Architecture.Backbone={name: MyNet, width: 8}``), but a
    mapping is never replaced by a non-mapping (``-o Optimizer.lr=0.001`` is an error pointing at
    ``Optimizer.lr.learning_rate``).
    """
    label = filename or '<PaddleOCR config>'
    out = copy.deepcopy(_plain(dict(doc)))
    for raw_key, value in (options or {}).items():
        create = raw_key.startswith('+')
        key = raw_key[1:] if create else raw_key
        parts = key.split('.')
        if not key or '' in parts:
            raise ConfigError(f'{label}: override {raw_key!r} is not a dotted key path such as Global.epoch_num')
        if parts == ['Optimizer', 'base_lr']:
            opt = out.get('Optimizer')
            if not isinstance(opt, dict):
                raise ConfigError(f'{label}: override {raw_key!r}: the config has no Optimizer section')
            lr = opt.get('lr')
            if isinstance(lr, dict):
                lr['learning_rate'] = value
            else:
                opt['lr'] = dict(learning_rate=value)
            continue
        if parts[0] == 'Global' and len(parts) == 2 and parts[1] in GLOBAL_KEYS:
            out.setdefault('Global', {})
            create = True
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            here = '.'.join(parts[:i]) or 'the top level'
            if isinstance(node, dict):
                if part not in node:
                    if not create:
                        listed = ', '.join(str(k) for k in list(node)[:12]) or 'nothing'
                        raise ConfigError(f'{label}: cannot override {raw_key!r}: there is no key {part!r} under '
                                          f'{here} (it has: {listed}).{_closest(key, out)}')
                    node[part] = value if last else {}
                    node = node[part]
                    continue
                if last:
                    if isinstance(node[part], dict) and not isinstance(value, dict):
                        hint = ' (the learning rate is Optimizer.lr.learning_rate, or Optimizer.base_lr)' \
                            if key == 'Optimizer.lr' else ''
                        raise ConfigError(f'{label}: cannot override {raw_key!r}: {key} is a mapping with keys '
                                          f'{", ".join(map(str, node[part]))}; set one of them{hint}')
                    node[part] = value  # PaddleOCR replaces (a mapping too: -o Architecture.Backbone={...})
                else:
                    if node[part] is None and create:
                        node[part] = {}
                    node = node[part]
            elif isinstance(node, list):
                try:
                    idx = int(part)
                    node[idx]  # noqa: B018  (index check)
                except (ValueError, IndexError):
                    raise ConfigError(f'{label}: cannot override {raw_key!r}: {here} is a list of {len(node)} '
                                      f'items; {part!r} is not an index into it') from None
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            else:
                raise ConfigError(f'{label}: cannot override {raw_key!r}: {here} is {node!r}, which has no key '
                                  f'{part!r}.{_closest(key, out)}')
    return out


# -- reading one section -----------------------------------------------------------------------------------
def parse_number_expr(value: Any, where: str) -> float:
    """A number, or a string of plain arithmetic PaddleOCR writes (``'1./255.'``), evaluated safely."""
    if isinstance(value, bool):
        raise ConfigError(f'{where}: expected a number, got {value!r}')
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f'{where}: expected a number or an expression such as "1./255.", got {value!r}')
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value,
                                                                                                       bool):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        raise ValueError(node)

    try:
        return ev(ast.parse(value.strip(), mode='eval'))
    except (SyntaxError, ValueError, ZeroDivisionError):
        raise ConfigError(f'{where}: {value!r} is not a number or a plain arithmetic expression') from None


class PaddleOCRDoc:
    """A PaddleOCR config dict and the file it came from, with strict readers that name file and key."""

    def __init__(self, data: Mapping[str, Any], filename: str | None = None) -> None:
        self.data = _plain(dict(data))
        self.filename = os.path.abspath(filename) if filename else None
        self.label = self.filename or '<PaddleOCR config>'

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f'{self.label}: {key}: {message}')

    def section(self, name: str, required: bool = True) -> dict:
        value = self.data.get(name)
        if value is None:
            if required:
                raise ConfigError(f'{self.label}: the PaddleOCR config has no {name} section')
            return {}
        if not isinstance(value, dict):
            raise self.error(name, f'must be a mapping, got {value!r}')
        return value

    def check_keys(self, mapping: Mapping[str, Any] | None, allowed: Sequence[str], key: str) -> dict:
        """``mapping`` as a dict, after checking that it only has ``allowed`` keys."""
        mapping = dict(mapping or {})
        unknown = [k for k in mapping if k not in allowed]
        if unknown:
            k = unknown[0]
            close = difflib.get_close_matches(str(k), list(allowed), n=3, cutoff=0.5)
            hint = f'; closest: {", ".join(close)}' if close else ''
            raise self.error(f'{key}.{k}', f'unknown key (accepted: {", ".join(allowed)}){hint}')
        return mapping

    def named(self, mapping: Any, key: str, choices: Mapping[str, Any] | Sequence[str]) -> str:
        """``mapping['name']``, checked against ``choices``."""
        if not isinstance(mapping, Mapping) or 'name' not in mapping:
            raise self.error(key, f'needs a "name" (one of {", ".join(choices)}), got {mapping!r}')
        name = mapping['name']
        if name not in choices:
            close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.5)
            hint = f'; closest: {", ".join(close)}' if close else ''
            raise self.error(f'{key}.name', f'{name!r} is not supported here (supported: {", ".join(choices)})'
                                            f'{hint}')
        return name

    def transforms(self, split: str) -> list[tuple[str, dict, str]]:
        """``(name, args, key)`` for each item of ``<split>.dataset.transforms`` (``- Name: {args}``)."""
        items = (self.section(split).get('dataset') or {}).get('transforms') or []
        if not isinstance(items, list):
            raise self.error(f'{split}.dataset.transforms', f'must be a list, got {items!r}')
        out = []
        for i, item in enumerate(items):
            key = f'{split}.dataset.transforms.{i}'
            if not isinstance(item, dict) or len(item) != 1:
                raise self.error(key, f'each transform is a one-key mapping "- Name: {{args}}", got {item!r}')
            (name, args), = item.items()
            if args is not None and not isinstance(args, dict):
                raise self.error(f'{key}.{name}', f'the arguments must be a mapping, got {args!r}')
            out.append((str(name), dict(args or {}), f'{key}.{name}'))
        return out

    def import_module_of(self, dotted: str, key: str) -> None:
        """Import the module of the dotted class path ``dotted`` (``pkg.mod.Class``), from the working directory
        too (as ``custom_imports``), so the registry can build ``type=dotted``."""
        from .config import import_custom_modules
        module = dotted.rpartition('.')[0]
        try:
            import_custom_modules(dict(imports=[module]), self.label)
        except ConfigError as exc:
            raise self.error(key, f'{dotted!r}: {exc}') from None

    def global_value(self, key: str) -> Any:
        return self.section('Global').get(key, GLOBAL_KEYS.get(key))


# -- the per-model_type registry -----------------------------------------------------------------------------
class PaddleOCRTaskTranslator:
    """Translates the model-type specific parts of a PaddleOCR config. Subclass it in a task package and
    register it with :func:`register_paddleocr_translator`.

    ``doc`` is the :class:`PaddleOCRDoc`. The generic translator calls :meth:`model`, :meth:`pipeline`
    (``'Train'`` / ``'Eval'``), :meth:`dataset` (per split), :meth:`evaluator`, :meth:`best_metric` and
    :meth:`visualizer`, and puts the results in the internal config.
    """

    model_type = ''

    def __init__(self, doc: PaddleOCRDoc) -> None:
        self.doc = doc

    def model(self) -> dict:
        raise NotImplementedError

    def pipeline(self, split: str) -> list[dict]:
        raise NotImplementedError

    #: PaddleOCR dataset name -> this library's dataset type (SimpleDataSet's keys are read by :meth:`dataset`)
    dataset_types: dict[str, str] = {}

    def dataset(self, split: str, dataset: dict, pipeline: list[dict]) -> dict:
        """``<split>.dataset`` -> a dataset config. The default reads PaddleOCR's ``SimpleDataSet`` (``data_dir``,
        ``label_file_list``, ``ratio_list``; ``delimiter`` must be a tab) into ``dataset_types['SimpleDataSet']``
        with ``data_dir`` / ``label_file_list`` / ``ratio_list`` / ``pipeline`` (``test_mode`` for Eval)."""
        doc, key = self.doc, f'{split}.dataset'
        doc.named(dataset, key, self.dataset_types)
        if dataset['name'] != 'SimpleDataSet':
            raise NotImplementedError(f'{type(self).__name__}.dataset: override it for {dataset["name"]}')
        dataset = doc.check_keys(dataset, ['name', 'data_dir', 'label_file_list', 'ratio_list', 'transforms',
                                           'delimiter', 'seed', 'ext_op_transform_idx'], key)
        if dataset.get('delimiter', '\t') != '\t':
            raise doc.error(f'{key}.delimiter', 'only tab-separated label files ("\\t") are supported')
        files = dataset.get('label_file_list')
        if not files:
            raise doc.error(f'{key}.label_file_list', 'is required (the PaddleOCR label files)')
        out = dict(type=self.dataset_types['SimpleDataSet'], data_dir=str(dataset.get('data_dir') or ''),
                   label_file_list=list(files) if isinstance(files, list) else [files], pipeline=pipeline)
        if dataset.get('ratio_list') is not None:
            out['ratio_list'] = dataset['ratio_list']
        if split != 'Train':
            out['test_mode'] = True
        return out

    def evaluator(self) -> dict | None:
        return None

    def best_metric(self) -> str | None:
        """The metric the best checkpoint is chosen by (``Metric.main_indicator``)."""
        return None

    def visualizer(self) -> dict:
        return dict(type='Visualizer')

    def inference_pipeline(self) -> list[dict]:
        """The Eval pipeline without the annotation loading (what ``tools/infer_*.py`` run)."""
        raise NotImplementedError

    def pass_through(self, cfg: dict, key: str) -> dict:
        """An unknown Backbone / Neck / Head name: ``dict(type=name, **the other keys)``, built by the registry
        (PaddleOCR's "add a new backbone" workflow: register the class, name it in the YAML). A dotted name
        (``my_project.my_backbone.MyBackbone``) is imported here, so no other code has to import it."""
        name = str(cfg['name'])
        if '.' in name:  # 'my_project.my_backbone.MyBackbone': import the module (from the working directory too)
            self.doc.import_module_of(name, f'{key}.name')
        return dict(type=name, **{k: v for k, v in cfg.items() if k != 'name'})

    def custom_part(self, cfg: dict, key: str, builtin: str, what: str) -> dict | None:
        """None when ``cfg`` names the built-in ``builtin`` (the translator maps it); else the registered part it
        names (:meth:`pass_through`); no name at all is an error."""
        if cfg.get('name') == builtin:
            return None
        if not cfg.get('name'):
            raise self.doc.error(key, f'needs a name ({builtin} or a registered {what})')
        return self.pass_through(cfg, key)


_TRANSLATORS: dict[str, type[PaddleOCRTaskTranslator]] = {}


def register_paddleocr_translator(model_type: str, *, force: bool = False) -> Callable:
    """Class decorator: use this :class:`PaddleOCRTaskTranslator` for ``Architecture.model_type``."""
    def deco(cls: type[PaddleOCRTaskTranslator]) -> type[PaddleOCRTaskTranslator]:
        if model_type in _TRANSLATORS and not force and _TRANSLATORS[model_type] is not cls:
            raise KeyError(f'a PaddleOCR translator for model_type {model_type!r} is already registered '
                           f'({_TRANSLATORS[model_type].__name__})')
        cls.model_type = model_type
        _TRANSLATORS[model_type] = cls
        return cls
    return deco


def paddleocr_translators() -> dict[str, type[PaddleOCRTaskTranslator]]:
    """model_type -> translator class, as registered."""
    return dict(_TRANSLATORS)


# -- checkpoints -------------------------------------------------------------------------------------------
def resolve_checkpoint(value: str, key: str, label: str) -> str:
    """The checkpoint file ``Global.pretrained_model`` / ``Global.checkpoints`` names.

    As PaddleOCR, the path may omit the extension (``output/db/iter_epoch_3`` finds ``iter_epoch_3.pth``).
    PaddleOCR's ``latest`` finds the work dir's ``last_checkpoint`` pointer, ``best_accuracy`` the newest
    ``best_*.pth``. ``torchvision://`` and http(s) URLs are returned unchanged.
    """
    value = os.path.expanduser(str(value))
    if value.startswith(('torchvision://', 'http://', 'https://')):
        return value
    if value.endswith(('.pdparams', '.pdopt', '.states')):
        raise ConfigError(f'{label}: {key}={value!r} is a PaddlePaddle file; this library loads PyTorch '
                          f'checkpoints (.pth) saved by its own training')
    if os.path.isfile(value):
        return value
    if os.path.isfile(value + '.pth'):
        return value + '.pth'
    folder, base = os.path.split(value)
    if base == 'latest':
        found = read_last_checkpoint(folder or '.')[1]
        if found is not None:
            return str(found)
    if base == 'best_accuracy':
        best = sorted(glob.glob(os.path.join(folder or '.', 'best_*.pth')), key=os.path.getmtime)
        if best:
            return best[-1]
    raise ConfigError(f'{label}: {key}={value!r}: neither {value!r} nor {value + ".pth"!r} exists')


# -- the generic translation ---------------------------------------------------------------------------------
def _as_int(value: Any, key: str, doc: PaddleOCRDoc, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < minimum:
        raise doc.error(key, f'must be an integer >= {minimum}, got {value!r}')
    return int(value)


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
    return (_as_int(start, 'Global.eval_batch_step', doc), _as_int(every, 'Global.eval_batch_step', doc, 1))


def _optimizer(doc: PaddleOCRDoc) -> tuple[dict, list[dict]]:
    """(optim_wrapper, param_scheduler) from the Optimizer section."""
    opt = doc.section('Optimizer')
    name = doc.named(opt, 'Optimizer', _OPTIMIZERS)
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
    base_lr, schedulers = _lr_schedule(doc, lr_cfg)
    optimizer: dict[str, Any] = dict(type=_OPTIMIZERS[name], lr=base_lr)
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


def _lr_schedule(doc: PaddleOCRDoc, lr: dict) -> tuple[float, list[dict]]:
    """(base lr, param_scheduler list). PaddleOCR steps its schedules every iteration and, with
    ``warmup_epoch``, starts the decay when the linear warm-up (from 0) ends; the schedulers here are epoch
    configs converted to iterations (``convert_to_iter_based``), so they do the same."""
    name = lr.get('name', 'Const')
    if name not in _LR_NAMES:
        close = difflib.get_close_matches(str(name), _LR_NAMES, n=2, cutoff=0.5)
        hint = f'; closest: {", ".join(close)}' if close else ''
        raise doc.error('Optimizer.lr.name', f'{name!r} is not supported (supported: {", ".join(_LR_NAMES)}){hint}')
    keys = {'Const': ['learning_rate'], 'Cosine': ['learning_rate'],
            'Linear': ['learning_rate', 'end_lr', 'power', 'epochs'],
            'Piecewise': ['decay_epochs', 'values', 'learning_rate'], 'Step': ['learning_rate', 'step_size', 'gamma'],
            'MultiStepDecay': ['learning_rate', 'milestones', 'gamma'],
            'DecayLearningRate': ['learning_rate', 'factor', 'end_lr']}[name]
    lr = doc.check_keys(lr, ['name', 'warmup_epoch', 'last_epoch'] + keys, 'Optimizer.lr')
    epochs = _as_int(doc.global_value('epoch_num'), 'Global.epoch_num', doc, 1)
    warm = lr.get('warmup_epoch', 0) or 0
    if isinstance(warm, bool) or not isinstance(warm, (int, float)) or warm < 0 or warm != int(warm):
        raise doc.error('Optimizer.lr.warmup_epoch', f'must be a whole number of epochs here, got {warm!r} '
                                                     '(the epoch length is only known when training starts)')
    warm = int(warm)
    if name == 'Piecewise':
        values = [float(v) for v in lr.get('values') or []]
        bounds = [_as_int(e, 'Optimizer.lr.decay_epochs', doc) for e in lr.get('decay_epochs') or []]
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
        length = _as_int(lr.get('epochs', epochs), 'Optimizer.lr.epochs', doc, 1) if name == 'Linear' else epochs
        out.append(dict(type='PolyLR', eta_min=end_lr, power=power, begin=warm, end=warm + length, **it))
    elif name == 'Piecewise':
        for b, (v0, v1) in zip(bounds, zip(values, values[1:])):
            out.append(dict(type='MultiStepLR', milestones=[b], gamma=v1 / v0, begin=warm,
                            end=max(warm + epochs, warm + b + 1), **it))
    elif name == 'Step':
        out.append(dict(type='StepLR', step_size=_as_int(lr.get('step_size'), 'Optimizer.lr.step_size', doc, 1),
                        gamma=float(lr.get('gamma', 0.1)), begin=warm, end=warm + epochs, **it))
    elif name == 'MultiStepDecay':
        out.append(dict(type='MultiStepLR', milestones=[int(m) for m in lr.get('milestones') or []],
                        gamma=float(lr.get('gamma', 0.1)), begin=warm, end=warm + epochs, **it))
    return base, out


def _loader(doc: PaddleOCRDoc, split: str, dataset: dict, train: bool) -> dict:
    loader = doc.check_keys(doc.section(split).get('loader'),
                            ['shuffle', 'drop_last', 'batch_size_per_card', 'num_workers', 'use_shared_memory',
                             'collate_fn', 'sampler'], f'{split}.loader')
    for key in ('collate_fn', 'sampler'):
        if loader.get(key):
            raise doc.error(f'{split}.loader.{key}', f'custom PaddleOCR {key}s are not supported')
    workers = _as_int(loader.get('num_workers', 0), f'{split}.loader.num_workers', doc)
    return dict(batch_size=_as_int(loader.get('batch_size_per_card', 1), f'{split}.loader.batch_size_per_card',
                                   doc, 1),
                num_workers=workers, persistent_workers=workers > 0,
                drop_last=bool(loader.get('drop_last', train)),
                sampler=dict(type='DefaultSampler', shuffle=bool(loader.get('shuffle', train))),
                dataset=dataset)


def _translator(doc: PaddleOCRDoc) -> PaddleOCRTaskTranslator:
    arch = doc.section('Architecture')
    model_type = arch.get('model_type')
    if model_type not in _TRANSLATORS:
        known = ', '.join(sorted(_TRANSLATORS)) or 'none (import visioncraft to register them)'
        raise doc.error('Architecture.model_type', f'{model_type!r} has no translator (supported: {known})')
    return _TRANSLATORS[model_type](doc)


def translate_paddleocr(data: Mapping[str, Any], filename: str | None = None) -> Config:
    """Translate a PaddleOCR config dict (overrides already applied) into the internal :class:`Config`."""
    doc = PaddleOCRDoc(data, filename)
    unknown = [k for k in doc.data if k not in _SECTIONS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), _SECTIONS, n=2, cutoff=0.5)
        hint = f'; closest: {", ".join(close)}' if close else ''
        raise doc.error(str(unknown[0]), f'unknown top-level section (PaddleOCR sections: {", ".join(_SECTIONS)})'
                                         f'{hint}')
    g = doc.check_keys(doc.section('Global'), list(GLOBAL_KEYS), 'Global')
    for key, what in _UNSUPPORTED_TRUE.items():
        if g.get(key):
            raise doc.error(f'Global.{key}', f'{what} is not supported; set it to false')
    task = _translator(doc)
    epochs = _as_int(doc.global_value('epoch_num'), 'Global.epoch_num', doc, 1)
    cfg: dict[str, Any] = dict(model=task.model())

    # data
    for split, train in (('Train', True), ('Eval', False)):
        if doc.data.get(split) is None:
            continue
        section = doc.check_keys(doc.section(split), ['dataset', 'loader'], split)
        if not isinstance(section.get('dataset'), dict):
            raise doc.error(f'{split}.dataset', 'must be a mapping with name, data_dir, label_file_list, transforms')
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
    wrapper, schedulers = _optimizer(doc) if doc.data.get('Optimizer') is not None else (None, [])
    if wrapper is not None:
        if doc.global_value('use_amp'):
            wrapper = _amp(doc, wrapper)
        cfg['optim_wrapper'] = wrapper
        cfg['param_scheduler'] = schedulers

    # hooks, logging, visualisation
    interval = _as_int(doc.global_value('print_batch_step'), 'Global.print_batch_step', doc, 1)
    save_every = _as_int(doc.global_value('save_epoch_step'), 'Global.save_epoch_step', doc, 1)
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
    cfg['randomness'] = dict(seed=_as_int(doc.global_value('seed'), 'Global.seed', doc), deterministic=False)
    cfg['env_cfg'] = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                          dist_cfg=dict(backend=None))
    if g.get('save_model_dir'):
        cfg['work_dir'] = str(g['save_model_dir'])

    # weights: checkpoints (resume) wins over pretrained_model (weights only)
    label = doc.label
    ckpt, pretrained = g.get('checkpoints'), g.get('pretrained_model')
    cfg['load_from'], cfg['resume'] = None, False
    pretrained_path = None
    if ckpt:
        cfg['load_from'] = resolve_checkpoint(ckpt, 'Global.checkpoints', label)
        cfg['resume'] = True
    elif pretrained:
        path = pretrained_path = resolve_checkpoint(pretrained, 'Global.pretrained_model', label)
        if path.startswith('torchvision://'):
            backbone = cfg['model'].get('backbone')
            if not isinstance(backbone, dict):
                raise doc.error('Global.pretrained_model', 'torchvision:// weights go to the backbone, and this '
                                                           'model has no backbone config')
            backbone['init_cfg'] = dict(type='Pretrained', checkpoint=path)
        else:
            cfg['load_from'] = path
    cfg['paddleocr'] = dict(
        file=label, model_type=task.model_type, algorithm=doc.section('Architecture').get('algorithm'),
        use_gpu=bool(doc.global_value('use_gpu')), infer_img=g.get('infer_img'),
        save_res_path=doc.global_value('save_res_path'), save_inference_dir=g.get('save_inference_dir'),
        checkpoints=cfg['load_from'] if ckpt else None,
        pretrained_model=pretrained_path,
        inference_pipeline=task.inference_pipeline() if doc.data.get('Eval') is not None else None)
    return Config(cfg, filename=filename)


def _amp(doc: PaddleOCRDoc, wrapper: dict) -> dict:
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


def load_paddleocr_config(filename: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a PaddleOCR YAML, apply ``-o`` overrides to its keys, and translate it (module docstring)."""
    filename = os.fspath(filename)
    data = apply_paddleocr_overrides(load_paddleocr_yaml(filename), overrides, os.path.abspath(filename))
    return translate_paddleocr(data, filename)

