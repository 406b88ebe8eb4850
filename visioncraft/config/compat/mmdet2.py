"""MMDetection 2.x configs (the MMCV 1.x runner layout) translated onto the internal layout (MMDetection 3.x /
MMEngine: ``train_dataloader``, ``optim_wrapper``, ``param_scheduler``, ...), so they train and test as written.

A loaded config is an MMDetection 2.x one (:func:`is_mmdet2_config`) when it has at least one of the 2.x top-level
keys (``data``, ``evaluation``, ``optimizer``, ``optimizer_config``, ``lr_config``, ``momentum_config``, ``runner``,
``total_epochs``, ``checkpoint_config``, ``log_config``, ``workflow``, ``fp16``), none of the 3.x layout keys
(``train_dataloader``, ``val_dataloader``, ``test_dataloader``, ``optim_wrapper``, ``param_scheduler``,
``val_evaluator``, ``test_evaluator``, ``default_hooks``, a loop-style ``train_cfg``), and a model that is not an
MMPose 0.x / MMOCR 0.x one (those configs share the layout but not the schema). :meth:`Config.fromfile
<visioncraft.config.Config.fromfile>` translates such a file as it loads it (:func:`load_translated`), after
applying the ``--cfg-options`` that name its 2.x keys (``data.test.samples_per_gpu=2``, as the 2.x guide writes
them); the other overrides (``train_cfg.max_epochs=3``) apply to the translation. ``visioncraft config FILE`` prints
the translation. A config that mixes both layouts is not translated: the Runner names its 2.x keys
(:func:`visioncraft.config.checks.mmcv_era_key_report`).

What maps to what (docs/compat.md has the full table):

* ``data``: ``samples_per_gpu`` / ``workers_per_gpu`` / ``persistent_workers`` and the per-split
  ``data.{train,val,test}.samples_per_gpu`` and ``data.{train,val,test}_dataloader`` -> ``batch_size`` /
  ``num_workers`` of ``train_dataloader`` (``DefaultSampler(shuffle=True)``), ``val_dataloader`` and
  ``test_dataloader`` (batch 1 unless said, no shuffle, ``test_mode=True``, as MMDetection 2.x's tools did);
  a dataset's ``img_prefix`` -> ``data_prefix=dict(img=...)`` (``VOCDataset``: ``sub_data_root``), ``classes`` (a
  sequence or a file with one name a line) -> ``metainfo=dict(classes=...)``, ``filter_empty_gt`` ->
  ``filter_cfg=dict(filter_empty_gt=..., min_size=32)`` (training sets; MMDetection 2.x always dropped images
  under 32 pixels there), a list of ``ann_file`` -> a ``ConcatDataset``.
* pipelines: ``Normalize(mean, std, to_rgb)`` and a ``Pad(size_divisor=N)`` after it go into the model's
  ``data_preprocessor=dict(type='DetDataPreprocessor', mean, std, bgr_to_rgb=to_rgb, pad_size_divisor=N)``
  (the same arithmetic on the same pixels, so the model gets the same input tensor); ``DefaultFormatBundle``,
  ``ImageToTensor``, ``ToTensor``, ``Transpose``, ``ToDataContainer``, ``WrapFieldsToLists`` and ``Collect`` become
  one ``PackDetInputs`` at the end; ``Resize(img_scale, multiscale_mode, ratio_range, keep_ratio=True)`` ->
  ``Resize`` / ``RandomResize`` / ``RandomChoiceResize`` (``keep_ratio`` defaults to True, as in 2.x);
  ``RandomFlip(flip_ratio, direction)`` -> ``RandomFlip(prob, direction)``; ``RandomCrop``'s (h, w)
  ``crop_size`` -> (w, h); ``MultiScaleFlipAug`` with one scale and ``flip=False`` -> its transforms at that
  scale. Several scales or ``flip=True`` (test-time augmentation) are an error: there is no TTA here.
* ``evaluation`` -> ``val_evaluator`` / ``test_evaluator`` (``bbox`` / ``segm`` / ``proposal``: ``CocoMetric``
  with the val / test set's ``ann_file``; ``mAP`` / ``recall``: ``VOCMetric``), ``interval`` ->
  ``train_cfg.val_interval``, ``save_best`` / ``rule`` -> the checkpoint hook's.
* ``optimizer`` + ``optimizer_config`` (``grad_clip``, ``cumulative_iters``, ``loss_scale``) + ``fp16`` ->
  ``optim_wrapper``; ``lr_config`` (``step``, ``CosineAnnealing``, ``poly``, ``exp``, ``fixed``, with ``linear`` or
  ``constant`` warm-up) -> ``param_scheduler``; ``runner`` / ``total_epochs`` -> ``train_cfg``;
  ``checkpoint_config`` / ``log_config`` -> ``default_hooks`` (``TensorboardLoggerHook``: a TensorBoard backend);
  ``resume_from`` -> ``resume=True`` + ``load_from``; ``dist_params`` -> ``env_cfg.dist_cfg``; the model's
  ``pretrained`` -> ``backbone.init_cfg``, and top-level ``train_cfg`` / ``test_cfg`` (before MMDetection 2.12)
  -> the model's.

Everything else that the translation reads but cannot map is a :class:`~visioncraft.config.ConfigError` naming the
file, the key and what to do; nothing is dropped without a word. Two keys MMDetection 2.x's own tools wrote into
the configs they saved (``gpu_ids``, ``device``) mean nothing here: they are listed in ``mmdet2.unused`` and in the
log line the Runner writes (:func:`translation_note`). The result carries ``mmdet2 = dict(file=..., unused=[...])``,
which also tells ``test --show-dir DIR`` to write where the 2.x guide says (see ``docs/compat.md``).
"""
from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from visioncraft.config.config import Config, ConfigError

__all__ = ['MMDET2_KEYS', 'LAYOUT_3X_KEYS', 'MARKER_KEY', 'is_mmdet2_config', 'translate_mmdet2', 'load_translated',
           'translate_pipeline', 'translation_note', 'is_translated']

#: top-level keys of the MMCV 1.x runner layout; one of them (and no 3.x layout key) makes a config a 2.x one
MMDET2_KEYS = ('data', 'evaluation', 'optimizer', 'optimizer_config', 'lr_config', 'momentum_config', 'runner',
               'total_epochs', 'checkpoint_config', 'log_config', 'workflow', 'fp16')
#: top-level keys of the MMEngine layout; one of them means the config is not (only) a 2.x one
LAYOUT_3X_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'optim_wrapper', 'param_scheduler',
                  'val_evaluator', 'test_evaluator', 'default_hooks')
#: the key of the translated config that records where it came from
MARKER_KEY = 'mmdet2'

# MMPose 0.x and MMOCR 0.x share the MMCV 1.x layout; their models are not translated here.
_NOT_MMDET_MODELS = frozenset({
    'TopDown', 'BottomUp', 'AssociativeEmbedding', 'PoseLifter', 'VideoPoseLifter', 'Interhand3D',
    'ParametricMesh', 'MultiTask', 'DBNet', 'DBNetpp', 'PSENet', 'PANet', 'FCENet', 'TextSnake', 'DRRG',
    'OCRMaskRCNN', 'CRNNNet', 'SARNet', 'NRTR', 'RobustScanner', 'SATRN', 'ABINet', 'MASTER', 'SegRecognizer',
    'EncodeDecodeRecognizer', 'SDMGR', 'SingleStageTextDetector'})
# a top-level train_cfg with one of these keys is a 3.x loop config (in 2.x, before 2.12, it held the model's)
_LOOP_KEYS = frozenset({'by_epoch', 'max_epochs', 'max_iters', 'val_interval', 'val_begin', 'type'})

# -- the keys each 2.x block takes (an unknown one is an error; a --cfg-options key among them may be created) --
_DATA_KEYS = ('samples_per_gpu', 'workers_per_gpu', 'persistent_workers', 'train', 'val', 'test',
              'train_dataloader', 'val_dataloader', 'test_dataloader')
_LOADER_OPTS = ('samples_per_gpu', 'workers_per_gpu', 'persistent_workers', 'shuffle', 'drop_last', 'pin_memory')
_EVAL_KEYS = ('interval', 'metric', 'save_best', 'rule', 'start', 'classwise', 'proposal_nums', 'iou_thrs',
              'iou_thr', 'metric_items', 'jsonfile_prefix', 'gpu_collect', 'by_epoch', 'scale_ranges')
_CKPT_KEYS = ('type', 'interval', 'by_epoch', 'save_optimizer', 'out_dir', 'max_keep_ckpts', 'save_last',
              'create_symlink', 'filename_tmpl')
_LOG_KEYS = ('interval', 'hooks')
_RUNNER_KEYS = ('type', 'max_epochs', 'max_iters')
_OPTIM_HOOK_KEYS = ('type', 'grad_clip', 'loss_scale', 'cumulative_iters', 'detect_anomalous_params', 'coalesce',
                    'bucket_size_mb', 'distributed')
_LR_KEYS = ('policy', 'by_epoch', 'warmup', 'warmup_iters', 'warmup_ratio', 'warmup_by_epoch', 'step', 'gamma',
            'min_lr', 'min_lr_ratio', 'power')
_FP16_KEYS = ('loss_scale',)
_DIST_KEYS = ('backend', 'port')
#: block -> the keys it takes (``data.train`` and friends: a dataset's own keys are not listed)
BLOCK_KEYS = {'data': _DATA_KEYS, 'evaluation': _EVAL_KEYS, 'checkpoint_config': _CKPT_KEYS,
              'log_config': _LOG_KEYS, 'runner': _RUNNER_KEYS, 'optimizer_config': _OPTIM_HOOK_KEYS,
              'lr_config': _LR_KEYS, 'fp16': _FP16_KEYS, 'dist_params': _DIST_KEYS}
# 2.x formatting transforms: their work is PackDetInputs' and the data preprocessor's
_FORMATTING = frozenset({'DefaultFormatBundle', 'ImageToTensor', 'ToTensor', 'Transpose', 'ToDataContainer',
                         'WrapFieldsToLists'})
# transforms that may stay after Normalize (which moves to the end, into the model): they move no pixel value
_AFTER_NORMALIZE_OK = frozenset({'RandomFlip', 'Pad', 'Collect'}) | _FORMATTING
# keys MMDetection 2.x's tools/train.py wrote into the configs it saved, meaningless here
_TOOL_WRITTEN = ('gpu_ids', 'device')


# -- telling a 2.x config apart ---------------------------------------------------------------------------------
def _is_loop_cfg(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(_LOOP_KEYS & set(value))


def is_mmdet2_config(cfg: Mapping[str, Any]) -> bool:
    """Whether ``cfg`` (a loaded config, bases merged) is in the MMDetection 2.x layout only (module docstring)."""
    if not any(cfg.get(k) is not None for k in MMDET2_KEYS):
        return False
    if any(cfg.get(k) is not None for k in LAYOUT_3X_KEYS) or _is_loop_cfg(cfg.get('train_cfg')):
        return False
    model = cfg.get('model')
    return not (isinstance(model, Mapping) and model.get('type') in _NOT_MMDET_MODELS)


def is_translated(cfg: Mapping[str, Any]) -> bool:
    """Whether ``cfg`` came from an MMDetection 2.x config (it carries :data:`MARKER_KEY`)."""
    return isinstance(cfg.get(MARKER_KEY), Mapping)


def translation_note(cfg: Mapping[str, Any]) -> str | None:
    """The one log line a run of a translated config starts with (None for any other config)."""
    if not is_translated(cfg):
        return None
    marker = cfg[MARKER_KEY]
    unused = list(marker.get('unused') or ())
    text = (f'{marker.get("file") or "config"}: an MMDetection 2.x config, translated to the MMEngine layout '
            f'(`visioncraft config FILE` prints the translation)')
    if unused:
        text += (f'; not used: {", ".join(unused)} (written by MMDetection 2.x\'s tools; here the launcher and '
                 'CUDA_VISIBLE_DEVICES pick the devices)')
    return text


# -- loading: overrides around the translation ----------------------------------------------------------------
def _creatable(key: str) -> bool:
    """Whether the 2.x override ``key`` names a documented key of a 2.x block that the file did not set
    (``data.test.samples_per_gpu``, ``evaluation.classwise``): MMCV created such keys, so this does too."""
    parts = key.split('.')
    if parts[0] == 'data':
        if len(parts) == 2:
            return parts[1] in ('samples_per_gpu', 'workers_per_gpu', 'persistent_workers')
        return len(parts) == 3 and parts[1] in _DATA_KEYS[3:] and parts[2] in _LOADER_OPTS
    return len(parts) == 2 and parts[1] in BLOCK_KEYS.get(parts[0], ())


def load_translated(cfg: Config, options: Mapping[str, Any] | None = None) -> Config:
    """Translate the loaded 2.x ``cfg``: first the ``options`` (``--cfg-options``) that fit its own keys (and the
    documented 2.x keys it leaves out, such as ``data.test.samples_per_gpu``), then the translation, then the other
    options on the result; an option that fits neither is the usual error naming the closest keys."""
    later: dict[str, Any] = {}
    for key, value in (options or {}).items():
        try:
            cfg.merge_from_dict({key: value})
        except ConfigError:
            if isinstance(key, str) and not key.startswith('+') and _creatable(key):
                cfg.merge_from_dict({'+' + key: value})
            elif str(key).lstrip('+').split('.')[0] in _Translation.consumed() & set(cfg):
                raise  # a key of a 2.x block that the block lacks: the error names the block's keys
            else:
                later[key] = value
    out = translate_mmdet2(cfg.to_dict(), cfg.filename, text=cfg.text)
    if later:
        out.merge_from_dict(later)
    return out


# -- the translation --------------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    return value.to_dict() if hasattr(value, 'to_dict') else copy.deepcopy(value)


class _Translation:
    """One translation: the source dict, the file it came from (for the errors), and what it found."""

    def __init__(self, src: Mapping[str, Any], filename: str | None) -> None:
        self.src = {k: _plain(v) for k, v in src.items()}
        self.file = filename
        self.norms: list[tuple[str, tuple | None]] = []  # (pipeline key, its normalisation) of every data pipeline

    # -- errors ---------------------------------------------------------------------------------
    def fail(self, key: str, text: str) -> ConfigError:
        return ConfigError(f'{self.file or "config"}: {key}: {text}')

    def block(self, key: str, allowed: Sequence[str], *, none_ok: bool = True) -> dict | None:
        """The 2.x block ``key`` as a dict (None when absent / None); an unknown key in it is an error."""
        value = self.src.get(key)
        if value is None and none_ok:
            return None
        return self.check(value, key, allowed)

    def check(self, value: Any, key: str, allowed: Sequence[str]) -> dict:
        if not isinstance(value, Mapping):
            raise self.fail(key, f'must be a dict, got {type(value).__name__} {value!r:.60}')
        unknown = [k for k in value if k not in allowed]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), list(allowed), n=1)
            hint = f' (did you mean {close[0]!r}?)' if close else ''
            raise self.fail(f'{key}.{unknown[0]}', f'not an MMDetection 2.x {key.split(".")[0]} key this translation '
                                                   f'knows{hint}; it takes {", ".join(allowed)}')
        return dict(value)

    # -- the whole config -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        src = self.src
        out: dict[str, Any] = {k: v for k, v in src.items() if k not in self.consumed()}
        out[MARKER_KEY] = dict(file=self.file, unused=[k for k in _TOOL_WRITTEN if src.get(k) is not None])
        runner = self.runner()
        by_epoch = runner['by_epoch'] if runner else True
        evaluation = self.block('evaluation', _EVAL_KEYS) or {}
        model = self.model(src.get('model'))
        out.update(self.data(evaluation, by_epoch))
        preprocessor = self.preprocessor()
        if model is not None:
            if preprocessor is not None:
                if model.get('data_preprocessor') not in (None, preprocessor):
                    raise self.fail('model.data_preprocessor', f'the pipelines normalise and pad as '
                                                              f'{preprocessor}; the model says otherwise')
                model['data_preprocessor'] = preprocessor
            out['model'] = model
        for name in ('train_pipeline', 'val_pipeline', 'test_pipeline'):  # variables: shown translated
            if isinstance(src.get(name), list):
                out[name] = self.pipeline(src[name], name)[0]
        if runner:
            train_cfg = dict(by_epoch=by_epoch, **{runner['length_key']: runner['length']})
            train_cfg.update(self.val_schedule(evaluation, by_epoch))
            out['train_cfg'] = train_cfg
        out['val_cfg'] = dict()
        out['test_cfg'] = dict()
        optim = self.optim_wrapper()
        if optim is not None:
            out['optim_wrapper'] = optim
        out['param_scheduler'] = self.param_scheduler(runner)
        out['default_hooks'] = self.default_hooks(evaluation, by_epoch)
        out['custom_hooks'] = self.custom_hooks()
        out['visualizer'] = self.visualizer()
        out['env_cfg'] = self.env_cfg()
        out.update(self.weights())
        randomness = {k: src[k] for k in ('seed', 'deterministic') if src.get(k) is not None}
        if randomness:
            out['randomness'] = randomness
        return out

    @staticmethod
    def consumed() -> set[str]:
        return set(MMDET2_KEYS) | set(_TOOL_WRITTEN) | {
            'dist_params', 'resume_from', 'auto_resume', 'seed', 'deterministic', 'opencv_num_threads',
            'mp_start_method', 'cudnn_benchmark', 'train_cfg', 'test_cfg', 'custom_hooks'}

    # -- model ----------------------------------------------------------------------------------
    def model(self, model: Any) -> dict | None:
        src = self.src
        if model is None:
            for k in ('train_cfg', 'test_cfg'):
                if src.get(k) is not None:
                    raise self.fail(k, 'a top-level train_cfg / test_cfg (MMDetection < 2.12) belongs to the model, '
                                       'and the config has none')
            return None
        if not isinstance(model, Mapping):
            raise self.fail('model', f'must be a dict, got {type(model).__name__}')
        model = dict(model)
        for k in ('train_cfg', 'test_cfg'):  # MMDetection < 2.12 kept them at the top level
            if src.get(k) is not None:
                if model.get(k) is not None:
                    raise self.fail(k, f'given both at the top level and as model.{k}; keep model.{k}')
                model[k] = src[k]
        pretrained = model.pop('pretrained', None)
        if pretrained is not None:
            backbone = model.get('backbone')
            if not isinstance(backbone, Mapping):
                raise self.fail('model.pretrained', 'needs a model.backbone dict to load the weights into')
            if backbone.get('init_cfg') is not None:
                raise self.fail('model.pretrained', 'and model.backbone.init_cfg both name weights; keep one')
            model['backbone'] = dict(backbone, init_cfg=dict(type='Pretrained', checkpoint=pretrained))
        for part, key in (('train_cfg', 'rpn_proposal'), ('test_cfg', 'rpn')):
            section = model.get(part)
            if isinstance(section, Mapping) and isinstance(section.get(key), Mapping):
                model[part] = dict(section, **{key: self.proposal_cfg(section[key], f'model.{part}.{key}')})
        return model

    def proposal_cfg(self, cfg: Mapping[str, Any], key: str) -> dict:
        """MMDetection < 2.12's RPN proposal settings (``nms_thr``, ``max_num``, ``nms_post``) -> today's."""
        cfg = dict(cfg)
        if 'nms_thr' in cfg:
            if 'nms' in cfg:
                raise self.fail(f'{key}.nms_thr', 'given with nms; keep nms=dict(type="nms", iou_threshold=...)')
            cfg['nms'] = dict(type='nms', iou_threshold=cfg.pop('nms_thr'))
        if 'max_num' in cfg:
            if 'max_per_img' in cfg and cfg['max_per_img'] != cfg['max_num']:
                raise self.fail(f'{key}.max_num', 'and max_per_img differ; keep max_per_img')
            cfg['max_per_img'] = cfg.pop('max_num')
        if 'nms_post' in cfg:
            post = cfg.pop('nms_post')
            if post != cfg.get('max_per_img', post):
                raise self.fail(f'{key}.nms_post', f'{post} differs from max_per_img {cfg.get("max_per_img")}: '
                                                   'proposals are kept after NMS up to max_per_img here')
        if cfg.pop('nms_across_levels', False):
            raise self.fail(f'{key}.nms_across_levels', 'NMS across levels is not supported; proposals are '
                                                       'suppressed per image over all levels in one batched NMS')
        return cfg

    # -- data -----------------------------------------------------------------------------------
    def data(self, evaluation: dict, by_epoch: bool) -> dict[str, Any]:
        data = self.block('data', _DATA_KEYS)
        if data is None:
            return {}
        out: dict[str, Any] = {}
        metric = evaluation.get('metric')
        for split in ('train', 'val', 'test'):
            ds = data.get(split)
            opts = dict(self.check(data[f'{split}_dataloader'], f'data.{split}_dataloader', _LOADER_OPTS)) \
                if data.get(f'{split}_dataloader') is not None else {}
            if ds is None:
                continue
            key = f'data.{split}'
            if isinstance(ds, list):
                if split != 'train':
                    raise self.fail(key, 'a list of datasets: give one val / test set (or a ConcatDataset for '
                                         'training only)')
                dataset = dict(type='ConcatDataset',
                               datasets=[self.dataset(d, f'{key}.{i}', split) for i, d in enumerate(ds)])
            elif isinstance(ds, Mapping):
                ds = dict(ds)
                for opt in ('samples_per_gpu', 'workers_per_gpu'):  # 2.x read these off the val / test set too
                    if opt in ds:
                        opts.setdefault(opt, ds.pop(opt))
                dataset = self.dataset(ds, key, split)
            else:
                raise self.fail(key, f'must be a dataset dict, got {type(ds).__name__}')
            default_batch = data.get('samples_per_gpu', 1) if split == 'train' else 1
            workers = opts.get('workers_per_gpu', data.get('workers_per_gpu', 0))
            loader: dict[str, Any] = dict(batch_size=opts.get('samples_per_gpu', default_batch), num_workers=workers)
            persistent = opts.get('persistent_workers', data.get('persistent_workers'))
            if persistent is not None and isinstance(workers, int) and workers > 0:
                loader['persistent_workers'] = persistent
            for opt in ('drop_last', 'pin_memory'):
                if opt in opts:
                    loader[opt] = opts[opt]
            if split != 'train':
                loader.setdefault('drop_last', False)
            loader['sampler'] = dict(type='DefaultSampler', shuffle=bool(opts.get('shuffle', split == 'train')))
            loader['dataset'] = dataset
            out[f'{split}_dataloader'] = loader
            if split != 'train':
                out[f'{split}_evaluator'] = self.evaluator(evaluation, metric, ds, f'data.{split}')
        return out

    def dataset(self, ds: Any, key: str, split: str) -> dict:
        if not isinstance(ds, Mapping):
            raise self.fail(key, f'must be a dataset dict, got {type(ds).__name__}')
        ds = dict(ds)
        kind = ds.get('type')
        if kind in ('RepeatDataset', 'ClassBalancedDataset', 'MultiImageMixDataset'):
            inner = ds.get('dataset')
            return dict(ds, dataset=self.dataset(inner, f'{key}.dataset', split))
        if kind == 'ConcatDataset':
            if split != 'train':
                raise self.fail(key, 'a ConcatDataset val / test set is not translated (its metrics would need '
                                     'one ann_file); give one dataset')
            ds.pop('separate_eval', None)  # evaluation-only
            return dict(ds, datasets=[self.dataset(d, f'{key}.datasets.{i}', split)
                                      for i, d in enumerate(ds.get('datasets') or [])])
        ann = ds.get('ann_file')
        if isinstance(ann, (list, tuple)):  # 2.x built a ConcatDataset from a list of annotation files
            prefixes = ds.get('img_prefix')
            if isinstance(prefixes, (list, tuple)) and len(prefixes) != len(ann):
                raise self.fail(f'{key}.img_prefix', f'{len(prefixes)} prefixes for {len(ann)} ann_file entries')
            parts = [dict(ds, ann_file=a, img_prefix=prefixes[i] if isinstance(prefixes, (list, tuple)) else
                          prefixes) for i, a in enumerate(ann)]
            if split != 'train':
                raise self.fail(f'{key}.ann_file', 'a list of annotation files for a val / test set is not '
                                                   'translated; give one')
            return dict(type='ConcatDataset', datasets=[self.dataset(p, f'{key}.ann_file.{i}', split)
                                                        for i, p in enumerate(parts)])
        out: dict[str, Any] = {}
        filter_empty = True
        for k, v in ds.items():
            where = f'{key}.{k}'
            if k == 'img_prefix':
                if v is not None:
                    out['data_prefix'] = dict(sub_data_root=v) if kind == 'VOCDataset' else dict(img=v)
            elif k in ('seg_prefix', 'proposal_file'):
                if v is not None:
                    what = 'semantic segmentation maps' if k == 'seg_prefix' else 'precomputed proposals'
                    raise self.fail(where, f'{what} are not supported; remove it')
            elif k == 'seg_suffix':
                continue
            elif k == 'classes':
                if v is not None:
                    out['metainfo'] = dict(classes=self.classes(v, where))
            elif k == 'filter_empty_gt':
                filter_empty = v
            elif k == 'file_client_args':
                self.file_client(v, where)
            elif k == 'pipeline':
                out['pipeline'], norm = self.pipeline(v, where)
                self.norms.append((where, norm))
            elif k == 'test_mode':
                continue  # the split decides, as 2.x's tools did
            else:
                out[k] = v
        if split == 'train':
            out['filter_cfg'] = dict(filter_empty_gt=filter_empty, min_size=32)
        else:
            out['test_mode'] = True
        return out

    def classes(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):  # 2.x read a file with one class name a line
            try:
                with open(value, encoding='utf-8') as f:
                    names = [line.strip() for line in f if line.strip()]
            except OSError as exc:
                raise self.fail(key, f'the class list file {value!r} cannot be read ({exc.strerror})') from None
            return tuple(names)
        if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
            raise self.fail(key, f'must be class names (a list / tuple of str) or a file of them, got {value!r:.60}')
        return tuple(value)

    def file_client(self, value: Any, key: str) -> None:
        if value is not None and (not isinstance(value, Mapping) or value.get('backend', 'disk') != 'disk'
                                  or set(value) - {'backend'}):
            raise self.fail(key, f'only the local disk is read here (backend="disk"), got {value!r:.60}')

    # -- pipelines ----------------------------------------------------------------------------------
    def pipeline(self, pipeline: Any, key: str) -> tuple[list[dict], tuple | None]:
        """The 3.x pipeline of a 2.x one, and its normalisation ``(mean, std, to_rgb, pad_size_divisor)`` (None
        without a ``Normalize``)."""
        if not isinstance(pipeline, (list, tuple)):
            raise self.fail(key, f'must be a list of transforms, got {type(pipeline).__name__}')
        steps: list[tuple[dict, str, Any]] = []  # (transform, key, MultiScaleFlipAug scale or None)
        for i, t in enumerate(pipeline):
            where = f'{key}.{i}'
            if not isinstance(t, Mapping) or 'type' not in t:
                raise self.fail(where, f"must be a transform dict(type='...'), got {t!r:.60}")
            if _name(t) == 'MultiScaleFlipAug':
                scale = self.flip_aug(t, where)
                inner = t.get('transforms') or []
                for j, u in enumerate(inner):
                    if not isinstance(u, Mapping) or 'type' not in u:
                        raise self.fail(f'{where}.transforms.{j}', f"must be a transform dict(type='...'), got "
                                                                   f'{u!r:.60}')
                    if _name(u) == 'MultiScaleFlipAug':
                        raise self.fail(f'{where}.transforms.{j}', 'a MultiScaleFlipAug inside another')
                    steps.append((dict(u), f'{where}.transforms.{j}', scale))
            else:
                steps.append((dict(t), where, None))
        out: list[dict] = []
        norm, pad_divisor, normalize_key = None, None, None
        for t, where, scale in steps:
            name = _name(t)
            if name == 'Normalize':
                if norm is not None:
                    raise self.fail(where, f'a second Normalize (the first is {normalize_key})')
                norm, normalize_key = self.normalize(t, where), where
                continue
            if norm is not None and name not in _AFTER_NORMALIZE_OK:
                raise self.fail(where, f'{name} comes after Normalize ({normalize_key}): normalisation moves into the '
                                       f"model's data_preprocessor, after the whole pipeline, so only RandomFlip, Pad "
                                       f'and the formatting transforms may follow it; move Normalize after {name}')
            if name in _FORMATTING or name == 'Collect':
                continue
            if name == 'Pad' and norm is not None:
                pad_divisor = self.pad_after_normalize(t, where, pad_divisor)
                continue
            step = self.transform(t, where, scale)
            if step is not None:
                out.append(step)
        out.append(dict(type='PackDetInputs'))
        if norm is None:
            return out, None
        return out, (*norm, pad_divisor or 1)

    def flip_aug(self, t: Mapping[str, Any], key: str) -> dict:
        """The one scale of a MultiScaleFlipAug, as Resize arguments; test-time augmentation is an error."""
        self.check(t, key, ('type', 'transforms', 'img_scale', 'scale_factor', 'flip', 'flip_direction'))
        if t.get('flip'):
            raise self.fail(f'{key}.flip', 'flip=True is test-time augmentation, which this library does not do; '
                                           'set flip=False')
        scales = t.get('img_scale')
        factors = t.get('scale_factor')
        if (scales is None) == (factors is None):
            raise self.fail(key, 'MultiScaleFlipAug needs img_scale or scale_factor (one of them)')
        if scales is not None:
            scales = [scales] if _is_pair(scales) else list(scales)
            if len(scales) != 1 or not _is_pair(scales[0]):
                raise self.fail(f'{key}.img_scale', f'{scales!r:.60}: several scales are test-time augmentation, '
                                                    'which this library does not do; give one (w, h)')
            return dict(scale=tuple(scales[0]))
        factors = [factors] if isinstance(factors, (int, float)) else list(factors)
        if len(factors) != 1:
            raise self.fail(f'{key}.scale_factor', 'several scale factors are test-time augmentation, which this '
                                                   'library does not do; give one')
        return dict(scale_factor=factors[0])

    def normalize(self, t: Mapping[str, Any], key: str) -> tuple:
        t = self.check(t, key, ('type', 'mean', 'std', 'to_rgb'))
        if t.get('mean') is None or t.get('std') is None:
            raise self.fail(key, 'Normalize needs mean and std')
        mean = [float(v) for v in t['mean']]
        std = [float(v) for v in t['std']]
        return tuple(mean), tuple(std), bool(t.get('to_rgb', True))

    def pad_after_normalize(self, t: Mapping[str, Any], key: str, previous: int | None) -> int:
        t = self.check(t, key, ('type', 'size', 'size_divisor', 'pad_to_square', 'pad_val'))
        pad_val = t.get('pad_val', 0)
        img_val = pad_val.get('img', 0) if isinstance(pad_val, Mapping) else pad_val
        if t.get('size') is not None or t.get('pad_to_square') or t.get('size_divisor') is None \
                or img_val not in (0, 0.0) or previous is not None:
            raise self.fail(key, 'after Normalize only one Pad(size_divisor=N) with pad value 0 translates (into '
                                 'the data_preprocessor, which pads the batch); pad to a fixed size before Normalize')
        return int(t['size_divisor'])

    def transform(self, t: dict, key: str, scale: dict | None) -> dict | None:
        """One 2.x transform (not Normalize / formatting / Collect) as a 3.x one; None drops it (a RandomFlip that
        never flips)."""
        name = _name(t)
        if name == 'LoadImageFromFile':
            t = self.check(t, key, ('type', 'to_float32', 'color_type', 'channel_order', 'file_client_args'))
            if t.pop('channel_order', 'bgr') != 'bgr':
                raise self.fail(f'{key}.channel_order', "only 'bgr' (OpenCV's order; Normalize(to_rgb=True) swaps "
                                                        'the channels) is translated')
            self.file_client(t.pop('file_client_args', None), f'{key}.file_client_args')
            return t
        if name == 'LoadAnnotations':
            t = self.check(t, key, ('type', 'with_bbox', 'with_label', 'with_mask', 'with_seg', 'poly2mask',
                                    'denorm_bbox', 'file_client_args'))
            if t.pop('with_seg', False):
                raise self.fail(f'{key}.with_seg', 'semantic segmentation maps are not supported')
            if t.pop('denorm_bbox', False):
                raise self.fail(f'{key}.denorm_bbox', 'normalised boxes in the annotations are not supported')
            self.file_client(t.pop('file_client_args', None), f'{key}.file_client_args')
            return t
        if name == 'Resize':
            return self.resize(t, key, scale)
        if name == 'RandomFlip':
            t = self.check(t, key, ('type', 'flip_ratio', 'direction'))
            ratio, direction = t.get('flip_ratio'), t.get('direction', 'horizontal')
            if scale is not None or ratio is None:  # flip=False in MultiScaleFlipAug; no ratio: never flips
                return None
            if isinstance(direction, (list, tuple)) and isinstance(ratio, (int, float)):
                ratio = [ratio / len(direction)] * len(direction)  # 2.x split one ratio over the directions
            return dict(type='RandomFlip', prob=ratio, direction=direction)
        if name == 'Pad':  # before Normalize: pads raw pixels, which are then normalised as in 2.x
            t = self.check(t, key, ('type', 'size', 'size_divisor', 'pad_to_square', 'pad_val'))
            pad_val = t.get('pad_val')
            if isinstance(pad_val, Mapping):
                pad_val = dict(pad_val)
                if pad_val.pop('masks', 0) != 0:
                    raise self.fail(f'{key}.pad_val.masks', 'masks are padded with 0 here')
                t['pad_val'] = pad_val
            if t.get('size') is not None:
                t['size'] = tuple(reversed(t['size']))  # 2.x: (h, w); here (w, h)
            return t
        if name == 'RandomCrop':
            t = dict(t)
            if t.get('crop_type', 'absolute') != 'absolute_range' and t.get('crop_size') is not None:
                t['crop_size'] = tuple(reversed(t['crop_size']))  # 2.x: (h, w); here (w, h)
            return t
        return t  # same name and arguments in both versions (PhotoMetricDistortion...), or the registry says

    def resize(self, t: dict, key: str, scale: dict | None) -> dict:
        t = self.check(t, key, ('type', 'img_scale', 'multiscale_mode', 'ratio_range', 'keep_ratio',
                                'bbox_clip_border', 'backend', 'interpolation', 'override'))
        common: dict[str, Any] = dict(keep_ratio=bool(t.get('keep_ratio', True)))  # 2.x's default: True
        if 'bbox_clip_border' in t:
            common['clip_object_border'] = t['bbox_clip_border']
        if 'interpolation' in t:
            common['interpolation'] = t['interpolation']
        if t.get('backend', 'cv2') != 'cv2':
            raise self.fail(f'{key}.backend', "only 'cv2' is translated")
        if t.get('override'):
            raise self.fail(f'{key}.override', 'override=True (resizing twice) is not supported')
        if scale is not None:  # inside MultiScaleFlipAug: its scale wins, as in 2.x
            return dict(type='Resize', **scale, **common)
        scales = t.get('img_scale')
        ratio = t.get('ratio_range')
        if scales is None:
            raise self.fail(f'{key}.img_scale', 'missing (2.x took it from MultiScaleFlipAug; outside one it is '
                                                'needed)')
        scales = [tuple(scales)] if _is_pair(scales) else [tuple(s) for s in scales]
        if ratio is not None:
            if len(scales) != 1:
                raise self.fail(f'{key}.ratio_range', 'needs exactly one img_scale')
            return dict(type='RandomResize', scale=scales[0], ratio_range=tuple(ratio), **common)
        if len(scales) == 1:
            return dict(type='Resize', scale=scales[0], **common)
        mode = t.get('multiscale_mode', 'range')
        if mode == 'value':
            return dict(type='RandomChoiceResize', scales=scales, **common)
        if mode != 'range' or len(scales) != 2:
            raise self.fail(f'{key}.multiscale_mode', "'range' takes two img_scale (the bounds); 'value' any number")
        # 2.x drew the long edge between the scales' long sides and the short edge between their short sides
        return dict(type='RandomResize', scale=[(max(s), min(s)) for s in scales], **common)

    def preprocessor(self) -> dict | None:
        if not self.norms:
            return None
        first_key, first = self.norms[0]
        for where, norm in self.norms[1:]:
            if norm != first:
                raise self.fail(where, f'normalises / pads as {_show_norm(norm)} but {first_key} as '
                                       f"{_show_norm(first)}: the model's data_preprocessor does one for all")
        if first is None:
            return dict(type='DetDataPreprocessor', pad_size_divisor=1)
        mean, std, to_rgb, divisor = first
        return dict(type='DetDataPreprocessor', mean=list(mean), std=list(std), bgr_to_rgb=to_rgb,
                    pad_size_divisor=divisor)

    # -- evaluation -------------------------------------------------------------------------------
    def evaluator(self, evaluation: dict, metric: Any, ds: Mapping[str, Any], key: str) -> dict:
        kind = ds.get('type')
        if metric is None:
            metric = 'mAP' if kind == 'VOCDataset' else 'bbox'  # the dataset's own default in 2.x
        metrics = [metric] if isinstance(metric, str) else list(metric)
        coco = [m for m in metrics if m in ('bbox', 'segm', 'proposal')]
        voc = [m for m in metrics if m in ('mAP', 'recall')]
        bad = [m for m in metrics if m not in coco and m not in voc]
        if bad:
            hint = " (use 'proposal')" if bad[0] == 'proposal_fast' else ''
            raise self.fail('evaluation.metric', f'{bad[0]!r} is not translated{hint}; COCO-style sets take bbox, '
                                                 'segm, proposal; VOC-style sets mAP, recall')
        if coco and voc:
            raise self.fail('evaluation.metric', f'{metrics}: COCO metrics and VOC metrics in one evaluation')
        args = {k: evaluation[k] for k in ('classwise', 'proposal_nums', 'iou_thrs', 'metric_items')
                if k in evaluation}
        if evaluation.get('gpu_collect'):
            args['collect_device'] = 'gpu'
        if coco:
            args.pop('scale_ranges', None)
            if 'jsonfile_prefix' in evaluation:
                args['outfile_prefix'] = evaluation['jsonfile_prefix']
            if 'iou_thr' in evaluation:
                raise self.fail('evaluation.iou_thr', "is VOCDataset's; CocoMetric takes iou_thrs")
            ann = ds.get('ann_file')
            if isinstance(ann, str) and ds.get('data_root'):
                ann = os.path.join(ds['data_root'], ann)
            return dict(type='CocoMetric', ann_file=ann, metric=coco if len(coco) > 1 else coco[0], **args)
        if len(voc) > 1:
            raise self.fail('evaluation.metric', "VOCMetric computes one of 'mAP' and 'recall' at a time")
        for k in ('classwise', 'iou_thrs', 'metric_items', 'jsonfile_prefix'):
            if k in evaluation:
                raise self.fail(f'evaluation.{k}', 'is a COCO evaluation argument; VOC takes iou_thr, scale_ranges, '
                                                   'proposal_nums')
        args = {k: v for k, v in args.items() if k != 'classwise'}
        if 'iou_thr' in evaluation:
            args['iou_thrs'] = evaluation['iou_thr']
        if 'scale_ranges' in evaluation:
            args['scale_ranges'] = evaluation['scale_ranges']
        prefix = ds.get('img_prefix') or ''
        # 2.x scored VOC2007 with the 11-point AP of its devkit, later years with the area under the curve
        mode = '11points' if '2007' in str(prefix) or kind != 'VOCDataset' else 'area'
        return dict(type='VOCMetric', metric=voc[0], eval_mode=mode, **args)

    def val_schedule(self, evaluation: dict, by_epoch: bool) -> dict:
        if evaluation.get('by_epoch', by_epoch) != by_epoch:
            raise self.fail('evaluation.by_epoch', f'{evaluation["by_epoch"]} but the runner is '
                                                   f'{"epoch" if by_epoch else "iteration"}-based')
        if evaluation.get('dynamic_intervals'):
            raise self.fail('evaluation.dynamic_intervals', 'changing intervals are not supported')
        interval = evaluation.get('interval', 1)
        out = dict(val_interval=interval)
        start = evaluation.get('start')
        if start is not None:
            if isinstance(interval, int) and isinstance(start, int) and interval > 0 and start % interval:
                raise self.fail('evaluation.start', f'{start} with interval {interval}: validation here runs at '
                                                    'multiples of the interval from val_begin on; make start a '
                                                    'multiple of the interval')
            out['val_begin'] = start
        return out

    # -- schedule and optimisation --------------------------------------------------------------------
    def runner(self) -> dict | None:
        runner = self.block('runner', _RUNNER_KEYS)
        epochs = self.src.get('total_epochs')
        if runner is None:
            if epochs is None:
                return None
            return dict(by_epoch=True, length_key='max_epochs', length=epochs)
        kind = runner.get('type', 'EpochBasedRunner')
        if kind == 'EpochBasedRunner':
            length = runner.get('max_epochs', epochs)
            if length is None or runner.get('max_iters') is not None:
                raise self.fail('runner', 'EpochBasedRunner needs max_epochs (and no max_iters)')
            return dict(by_epoch=True, length_key='max_epochs', length=length)
        if kind == 'IterBasedRunner':
            if runner.get('max_iters') is None or runner.get('max_epochs') is not None:
                raise self.fail('runner', 'IterBasedRunner needs max_iters (and no max_epochs)')
            return dict(by_epoch=False, length_key='max_iters', length=runner['max_iters'])
        raise self.fail('runner.type', f"{kind!r} is not translated; use 'EpochBasedRunner' or 'IterBasedRunner'")

    def optim_wrapper(self) -> dict | None:
        optimizer = self.src.get('optimizer')
        hook = self.block('optimizer_config', _OPTIM_HOOK_KEYS) or {}
        fp16 = self.block('fp16', _FP16_KEYS)
        if optimizer is None:
            if hook or fp16:
                raise self.fail('optimizer_config' if hook else 'fp16', 'given without an optimizer')
            return None
        if not isinstance(optimizer, Mapping) or 'type' not in optimizer:
            raise self.fail('optimizer', f"must be dict(type='SGD', lr=...), got {optimizer!r:.60}")
        optimizer = dict(optimizer)
        wrapper: dict[str, Any] = dict(type='OptimWrapper')
        paramwise = optimizer.pop('paramwise_cfg', None)
        constructor = optimizer.pop('constructor', None)
        wrapper['optimizer'] = optimizer
        if paramwise is not None:
            wrapper['paramwise_cfg'] = paramwise
        if constructor not in (None, 'DefaultOptimizerConstructor'):
            wrapper['constructor'] = constructor
        kind = hook.get('type', 'OptimizerHook')
        kinds = ('OptimizerHook', 'Fp16OptimizerHook', 'GradientCumulativeOptimizerHook',
                 'GradientCumulativeFp16OptimizerHook')
        if kind not in kinds:
            raise self.fail('optimizer_config.type', f'{kind!r} is not translated; use one of {", ".join(kinds)}')
        if hook.get('grad_clip') is not None:
            clip = hook['grad_clip']
            if not isinstance(clip, Mapping):
                raise self.fail('optimizer_config.grad_clip', f'must be dict(max_norm=..., norm_type=2), got {clip!r}')
            wrapper['clip_grad'] = dict(clip)
        if hook.get('detect_anomalous_params'):
            raise self.fail('optimizer_config.detect_anomalous_params', 'not supported; remove it')
        for k, default in (('coalesce', True), ('bucket_size_mb', -1), ('distributed', True)):
            if hook.get(k, default) != default:  # 2.x's fp16 gradient all-reduce tuning: DDP does its own
                raise self.fail(f'optimizer_config.{k}', f'only its default ({default}) is translated')
        if 'Cumulative' in kind or 'cumulative_iters' in hook:
            wrapper['accumulative_counts'] = hook.get('cumulative_iters', 1)
        scale = fp16.get('loss_scale', 512.0) if fp16 is not None else None
        if 'Fp16' in kind:
            scale = hook.get('loss_scale', scale if scale is not None else 512.0)
        elif 'loss_scale' in hook:
            raise self.fail('optimizer_config.loss_scale', f'needs type Fp16OptimizerHook, not {kind}')
        if scale is not None:
            if isinstance(scale, Mapping):
                raise self.fail('fp16.loss_scale', "a dict of GradScaler arguments is not translated; give a number "
                                                   "or 'dynamic'")
            wrapper['type'] = 'AmpOptimWrapper'
            wrapper['loss_scale'] = scale
        return wrapper

    def param_scheduler(self, runner: dict | None) -> list[dict]:
        if self.src.get('momentum_config') is not None:
            raise self.fail('momentum_config', 'momentum schedules (cyclic / one-cycle momentum) are not translated; '
                                               'remove it or write param_scheduler with a *Momentum scheduler')
        lr = self.src.get('lr_config')
        if lr is None:
            return []
        policy = str(lr.get('policy', 'fixed')) if isinstance(lr, Mapping) else ''
        if policy.lower() not in ('step', 'cosineannealing', 'poly', 'exp', 'fixed'):  # before its own keys
            raise self.fail('lr_config.policy', f'{policy!r} is not translated; use step, CosineAnnealing, poly, exp '
                                                'or fixed (or write param_scheduler)')
        lr = self.block('lr_config', _LR_KEYS)
        by_epoch = lr.get('by_epoch', True)
        if runner is not None and not runner['by_epoch'] and by_epoch:
            raise self.fail('lr_config.by_epoch', 'the IterBasedRunner has no epochs: set lr_config.by_epoch=False')
        out: list[dict] = []
        warmup = lr.get('warmup')
        if warmup is not None:
            iters, ratio = lr.get('warmup_iters', 0), lr.get('warmup_ratio', 0.1)
            if not isinstance(iters, int) or iters < 1:
                raise self.fail('lr_config.warmup_iters', f'must be an integer >= 1, got {iters!r}')
            step = dict(by_epoch=False, begin=0, end=iters)
            if lr.get('warmup_by_epoch', False):  # counted in epochs, applied every iteration as in 2.x
                step = dict(by_epoch=True, begin=0, end=iters, convert_to_iter_based=True)
            if warmup == 'linear':
                out.append(dict(type='LinearLR', start_factor=ratio, **step))
            elif warmup == 'constant':
                out.append(dict(type='ConstantLR', factor=ratio, **step))
            else:
                raise self.fail('lr_config.warmup', f"{warmup!r} is not translated; use 'linear' or 'constant'")
        # no end: the schedule lasts the training (train_cfg's length, overrides of it included)
        span: dict[str, Any] = dict(by_epoch=by_epoch, begin=0)
        name = policy.lower()
        used = {'policy', 'by_epoch', 'warmup', 'warmup_iters', 'warmup_ratio', 'warmup_by_epoch'}
        if name == 'step':
            steps, gamma = lr.get('step'), lr.get('gamma', 0.1)
            if lr.get('min_lr') is not None:
                raise self.fail('lr_config.min_lr', 'a floor under the step schedule is not supported')
            if isinstance(steps, int):
                out.append(dict(type='StepLR', step_size=steps, gamma=gamma, **span))
            elif isinstance(steps, (list, tuple)):
                out.append(dict(type='MultiStepLR', milestones=list(steps), gamma=gamma, **span))
            else:
                raise self.fail('lr_config.step', f'must be an epoch (or iteration) count or a list of them, got '
                                                  f'{steps!r}')
            used |= {'step', 'gamma', 'min_lr'}
        elif name == 'cosineannealing':
            if lr.get('min_lr') is not None and lr.get('min_lr_ratio') is not None:
                raise self.fail('lr_config.min_lr', 'give min_lr or min_lr_ratio, not both')
            extra = dict(eta_min=lr['min_lr']) if lr.get('min_lr') is not None else \
                dict(eta_min_ratio=lr['min_lr_ratio']) if lr.get('min_lr_ratio') is not None else {}
            out.append(dict(type='CosineAnnealingLR', **span, **extra))
            used |= {'min_lr', 'min_lr_ratio'}
        elif name == 'poly':
            out.append(dict(type='PolyLR', power=lr.get('power', 1.0), eta_min=lr.get('min_lr', 0.0), **span))
            used |= {'power', 'min_lr'}
        elif name == 'exp':
            out.append(dict(type='ExponentialLR', gamma=lr.get('gamma', 0.1), **span))
            used |= {'gamma'}
        extra_keys = [k for k in lr if k not in used and lr[k] is not None]
        if extra_keys:
            raise self.fail(f'lr_config.{extra_keys[0]}', f'means nothing to the {policy!r} policy')
        return out

    # -- hooks, logging, environment, weights -------------------------------------------------------------
    def default_hooks(self, evaluation: dict, by_epoch: bool) -> dict:
        ckpt = self.block('checkpoint_config', _CKPT_KEYS) or dict(interval=1)
        if ckpt.pop('type', 'CheckpointHook') != 'CheckpointHook':
            raise self.fail('checkpoint_config.type', "only 'CheckpointHook' is translated")
        ckpt.pop('create_symlink', None)  # latest.pth: WORK_DIR/last_checkpoint (and latest.pth) name the newest
        ckpt.setdefault('by_epoch', by_epoch)
        best = evaluation.get('save_best')
        if best is not None:
            metric = evaluation.get('metric')
            voc = metric in ('mAP', 'recall') or (isinstance(metric, (list, tuple)) and 'mAP' in metric)
            prefix = 'pascal_voc' if voc else 'coco'
            ckpt['save_best'] = best if best == 'auto' or '/' in str(best) else f'{prefix}/{best}'
            if evaluation.get('rule') is not None:
                ckpt['rule'] = evaluation['rule']
        elif evaluation.get('rule') is not None:
            raise self.fail('evaluation.rule', 'given without save_best')
        log = self.block('log_config', _LOG_KEYS) or {}
        logger = dict(type='LoggerHook', interval=log.get('interval', 50))
        for i, hook in enumerate(log.get('hooks') or []):
            kind = hook.get('type') if isinstance(hook, Mapping) else None
            if kind == 'TextLoggerHook':
                self.check(hook, f'log_config.hooks.{i}', ('type', 'by_epoch', 'interval', 'ignore_last'))
                if 'ignore_last' in hook:
                    logger['ignore_last'] = hook['ignore_last']
            elif kind == 'TensorboardLoggerHook':
                self.check(hook, f'log_config.hooks.{i}', ('type', 'by_epoch', 'interval', 'log_dir'))
                if hook.get('log_dir') is not None:
                    raise self.fail(f'log_config.hooks.{i}.log_dir', 'TensorBoard events go to '
                                                                     'WORK_DIR/TIMESTAMP/vis_data here')
            else:
                raise self.fail(f'log_config.hooks.{i}.type', f'{kind!r} is not translated; TextLoggerHook and '
                                                              'TensorboardLoggerHook are')
        return dict(timer=dict(type='IterTimerHook'), logger=logger, param_scheduler=dict(type='ParamSchedulerHook'),
                    checkpoint=dict(type='CheckpointHook', **ckpt), sampler_seed=dict(type='DistSamplerSeedHook'),
                    visualization=dict(type='VisualizationHook', draw=False))

    def custom_hooks(self) -> list:
        hooks = self.src.get('custom_hooks') or []
        if not isinstance(hooks, (list, tuple)):
            raise self.fail('custom_hooks', f'must be a list of hook dicts, got {type(hooks).__name__}')
        # NumClassCheckHook compared the heads' num_classes with the dataset's classes; the heads check the labels
        return [h for h in hooks if not (isinstance(h, Mapping) and h.get('type') == 'NumClassCheckHook')]

    def visualizer(self) -> dict:
        backends = [dict(type='LocalVisBackend')]
        hooks = (self.src.get('log_config') or {}).get('hooks') or []
        if any(isinstance(h, Mapping) and h.get('type') == 'TensorboardLoggerHook' for h in hooks):
            backends.append(dict(type='TensorboardVisBackend'))
        return dict(type='DetLocalVisualizer', vis_backends=backends)

    def workflow(self) -> None:
        flow = self.src.get('workflow')
        if flow is None:
            return
        ok = isinstance(flow, (list, tuple)) and len(flow) == 1 and isinstance(flow[0], (list, tuple)) \
            and list(flow[0]) == ['train', 1]
        if not ok:
            raise self.fail('workflow', f"{flow!r:.60}: only [('train', 1)] is translated; validation runs the "
                                        'metrics of `evaluation` (losses on the val set are not computed)')

    def env_cfg(self) -> dict:
        self.workflow()
        src = self.src
        dist = self.block('dist_params', _DIST_KEYS) or {}
        mp_cfg = {k: src[k] for k in ('mp_start_method', 'opencv_num_threads') if src.get(k) is not None}
        env: dict[str, Any] = dict(cudnn_benchmark=bool(src.get('cudnn_benchmark', False)),
                                   mp_cfg=mp_cfg, dist_cfg=dict(backend=None))
        if dist.get('backend') not in (None, 'nccl'):  # 'nccl', every 2.x config's, is what None picks with CUDA
            env['dist_cfg']['backend'] = dist['backend']
        if dist.get('port') is not None:  # the rendezvous port of a Slurm / MPI launch; the command line applies it
            env['dist_cfg']['port'] = dist['port']
        return env

    def weights(self) -> dict:
        src = self.src
        out: dict[str, Any] = dict(load_from=src.get('load_from'), resume=False)
        if src.get('resume_from'):  # 2.x: resume_from wins over load_from
            out.update(load_from=src['resume_from'], resume=True)
        elif src.get('auto_resume'):
            out['resume'] = True
        return out


def _name(t: Mapping[str, Any]) -> str:
    name = t.get('type')
    if isinstance(name, str) and name.startswith('mmdet.'):
        name = name[len('mmdet.'):]
    return name if isinstance(name, str) else repr(name)


def _is_pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)


def _show_norm(norm: tuple | None) -> str:
    if norm is None:
        return 'nothing (no Normalize)'
    mean, std, to_rgb, divisor = norm
    return f'mean={list(mean)}, std={list(std)}, to_rgb={to_rgb}, pad size_divisor={divisor}'


def translate_mmdet2(cfg: Mapping[str, Any], filename: str | os.PathLike[str] | None = None, *,
                     text: str | None = None) -> Config:
    """The internal :class:`Config` of a 2.x config dict (bases merged, overrides applied); errors name
    ``filename``."""
    path = os.path.abspath(os.fspath(filename)) if filename else None
    out = _Translation(cfg, path).run()
    return Config(out, path, text=text)


def translate_pipeline(pipeline: Sequence[Mapping[str, Any]], key: str = 'pipeline',
                       filename: str | None = None) -> tuple[list[dict], dict | None]:
    """A 2.x pipeline as a 3.x one, and the ``DetDataPreprocessor`` config its ``Normalize`` / ``Pad`` become
    (None without a ``Normalize``)."""
    t = _Translation({}, filename)
    steps, norm = t.pipeline(list(pipeline), key)
    t.norms.append((key, norm))
    return steps, t.preprocessor() if norm is not None else None


__all__ += ['mmdet2_loader_options']

_SPLIT_LOADERS = {'train': 'train_dataloader', 'val': 'val_dataloader', 'test': 'test_dataloader'}
_LOADER_OPT_KEYS = {'samples_per_gpu': 'batch_size', 'workers_per_gpu': 'num_workers'}


def mmdet2_loader_options(cfg: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with MMDetection 2.x's loader overrides renamed for a 3.x-layout config (one with
    ``*_dataloader`` and no ``data`` block), as its 2.x guide passes them to a config of the same name:
    ``data.{train,val,test}.samples_per_gpu`` / ``workers_per_gpu`` -> ``{split}_dataloader.batch_size`` /
    ``num_workers``; ``data.samples_per_gpu`` -> the training batch, ``data.workers_per_gpu`` -> every loader's
    workers (2.x read it for every split). Any other key is returned as it is."""
    if 'data' in cfg or not any(k in cfg for k in _SPLIT_LOADERS.values()):
        return dict(options)
    out: dict[str, Any] = {}
    for key, value in options.items():
        parts = str(key).split('.')
        if parts[0] == 'data' and len(parts) == 3 and parts[1] in _SPLIT_LOADERS and parts[2] in _LOADER_OPT_KEYS:
            out[f'{_SPLIT_LOADERS[parts[1]]}.{_LOADER_OPT_KEYS[parts[2]]}'] = value
        elif parts[0] == 'data' and len(parts) == 2 and parts[1] == 'samples_per_gpu':
            out['train_dataloader.batch_size'] = value
        elif parts[0] == 'data' and len(parts) == 2 and parts[1] == 'workers_per_gpu':
            for loader in _SPLIT_LOADERS.values():
                if loader in cfg:
                    out[f'{loader}.num_workers'] = value
        else:
            out[key] = value
    return out
