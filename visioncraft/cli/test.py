"""``visioncraft test CONFIG CHECKPOINT`` (also ``tools/test.py``); the flags are :func:`.parsers.test_parser`'s."""
from __future__ import annotations

import argparse
import copy
import inspect
import json
import logging
import os
import sys

from ..config import ConfigError
from ..engine import Runner
from ..fileio.checkpoint import atomic_write_text
from ..registry import DATASETS, EVALUATORS, METRICS, config_file_context, set_default_scope
from .common import check_checkpoint_fits, check_run_config, enable_visualization, load_config, run_in_process_group
from .parsers import test_parser as build_parser

__all__ = ['build_parser', 'main', 'run', 'prepare_config']


#: MMDetection 2.x's ``dataset.evaluate`` keyword -> the metric's argument
_EVAL_OPTION_NAMES = {'jsonfile_prefix': 'outfile_prefix'}
#: evaluator types that hold metrics rather than being one
_CONTAINERS = ('Evaluator', 'MultiDatasetEvaluator', 'MultiDatasetsEvaluator')


def _metric_cfgs(evaluator) -> list[dict]:
    """The metric configs (dicts with a ``type``) of a test_evaluator: one metric, a list, or an evaluator."""
    if isinstance(evaluator, (list, tuple)):
        return [m for e in evaluator for m in _metric_cfgs(e)]
    if not isinstance(evaluator, dict):
        return []
    if evaluator.get('type') in _CONTAINERS or 'type' not in evaluator:
        inner = evaluator.get('metrics', evaluator.get('metric'))
        return _metric_cfgs(inner) if isinstance(inner, (dict, list, tuple)) else []
    return [] if evaluator.get('type') == 'DumpResults' else [evaluator]


def _metric_args(metric_cfg: dict) -> set[str]:
    """The keyword arguments the metric class of ``metric_cfg`` takes (empty when its type is unknown: the Runner
    then says so)."""
    kind = metric_cfg.get('type')
    try:
        cls = kind if isinstance(kind, type) else METRICS.get(str(kind))
        params = inspect.signature(cls.__init__).parameters.values()
    except Exception:  # noqa: BLE001 - an unknown type is reported when the evaluator is built
        return set()
    return {p.name for p in params if p.name != 'self' and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def split_eval_options(cfg, options: dict) -> tuple[dict, dict]:
    """``(evaluator options, config overrides)`` of MMDetection 2.x's ``--options / --eval-options KEY=VALUE``: a
    plain KEY that is an argument of a test_evaluator metric (``classwise``, ``jsonfile_prefix`` = the metric's
    ``outfile_prefix``, ``iou_thrs``, ...) goes to the metric; any other KEY (``dist_params.port``,
    ``data.test.samples_per_gpu``, ``model.test_cfg.score_thr``) is a config override, which must name a config
    key (checked as the config is loaded with it)."""
    accepted = set().union(*(_metric_args(m) for m in _metric_cfgs(cfg.get('test_evaluator'))))
    to_metric, to_config = {}, {}
    for key, value in options.items():
        name = _EVAL_OPTION_NAMES.get(key, key)
        if '.' not in key and name in accepted:
            to_metric[name] = value
        else:
            to_config[key] = value
    return to_metric, to_config


def _check_can_format_only(cfg) -> None:
    """``--format-only`` needs a test_evaluator metric that writes result files without evaluating."""
    targets = _metric_cfgs(cfg.get('test_evaluator'))
    if targets and not any({'format_only', 'outfile_prefix'} <= _metric_args(m) for m in targets):
        kinds = ', '.join(sorted({str(m.get('type')) for m in targets}))
        raise ConfigError(f'--format-only: the test_evaluator ({kinds}) cannot write result files without '
                          'evaluating (it takes no format_only / outfile_prefix); use a CocoMetric test_evaluator')


def apply_eval_args(cfg, metrics: list[str] | None, options: dict, format_only: bool) -> None:
    """MMDetection 2.x's ``--eval METRIC ...``, the evaluator part of ``--options / --eval-options KEY=VALUE``
    (:func:`split_eval_options`) and ``--format-only``, set on the metrics of ``cfg.test_evaluator`` that take
    them."""
    if not (metrics or options or format_only):
        return
    options = {_EVAL_OPTION_NAMES.get(k, k): v for k, v in options.items()}
    if format_only:
        if not options.get('outfile_prefix'):
            raise ConfigError('--format-only writes result files and computes no metric: give their prefix with '
                              '--options jsonfile_prefix=PREFIX')
        options['format_only'] = True
    targets = _metric_cfgs(cfg.get('test_evaluator'))
    if not targets:
        raise ConfigError('--eval / --options / --format-only: the config has no test_evaluator metric to set '
                          'them on')
    for key in options:
        if not any(key in _metric_args(m) for m in targets):  # only format_only can get here
            kinds = ', '.join(sorted({str(m.get('type')) for m in targets}))
            raise ConfigError(f'--format-only: the test_evaluator ({kinds}) cannot write result files without '
                              f'evaluating (it takes no {key}); use a CocoMetric test_evaluator')
    for m in targets:
        args = _metric_args(m)
        if metrics and ('metric' in args or not args):
            m['metric'] = list(metrics) if 'Coco' in str(m.get('type')) or len(metrics) > 1 else metrics[0]
        m.update({k: v for k, v in options.items() if k in args})


def apply_txtfile_prefix(cfg, prefix: str | None, metrics: list[str] | None, format_only: bool,
                         options: dict) -> bool:
    """MMDetection 2.x's Cityscapes results: ``--format-only --options txtfile_prefix=DIR`` makes the test_evaluator
    a :class:`~visioncraft.tasks.detection.evaluation.CityscapesMetric` that only writes the official txt / png
    files into DIR; ``--eval cityscapes`` (with or without ``txtfile_prefix``) adds one that evaluates them
    (cityscapesscripts needed). ``prefix``: the ``txtfile_prefix`` option or None; removes ``cityscapes`` from
    ``metrics``; ``options``: the other evaluator options. Returns whether ``--format-only`` is taken care of."""
    wants_eval = bool(metrics) and 'cityscapes' in metrics
    if wants_eval:
        metrics.remove('cityscapes')
    if prefix is None and not wants_eval:
        return False
    if prefix is not None and not str(prefix):
        raise ConfigError('--options txtfile_prefix: give the folder of the Cityscapes result files, got an empty '
                          'value')
    if format_only:
        if prefix is None:
            raise ConfigError('--format-only --eval cityscapes: give the folder of the Cityscapes result files with '
                              '--options txtfile_prefix=DIR')
        if 'outfile_prefix' in options or metrics:
            raise ConfigError('--format-only --options txtfile_prefix=DIR writes the Cityscapes txt / png files only; '
                              'write COCO JSON results (jsonfile_prefix) or --eval other metrics in another run')
        cfg['test_evaluator'] = dict(type='CityscapesMetric', format_only=True, txtfile_prefix=str(prefix))
        return True
    if not wants_eval:
        raise ConfigError('--options txtfile_prefix=DIR: the Cityscapes result files are written with --format-only '
                          '(for the official server) or --eval cityscapes (evaluated with cityscapesscripts)')
    metric = dict(type='CityscapesMetric')
    if prefix is not None:
        metric['txtfile_prefix'] = str(prefix)
    current = cfg.get('test_evaluator')
    if not metrics:  # --eval cityscapes alone: the Cityscapes AP only
        cfg['test_evaluator'] = metric
    elif isinstance(current, dict) and current.get('type') in _CONTAINERS:
        raise ConfigError(f'--eval cityscapes: the test_evaluator is a {current.get("type")}; give --eval cityscapes '
                          'alone or put a CityscapesMetric into the config')
    else:
        current = list(current) if isinstance(current, (list, tuple)) else ([] if current is None else [current])
        cfg['test_evaluator'] = current + [metric]
    return False


def prepare_config(args: argparse.Namespace):
    eval_options = dict(getattr(args, 'eval_options', None) or {})
    cfg = load_config(args)
    metrics = list(args.eval) if getattr(args, 'eval', None) else None
    format_only = bool(getattr(args, 'format_only', False))
    txtfile_prefix = eval_options.pop('txtfile_prefix', None)  # MMDetection 2.x's Cityscapes result folder
    if format_only and txtfile_prefix is None:
        _check_can_format_only(cfg)
    to_metric, to_config = split_eval_options(cfg, eval_options)
    if to_config:  # MMDetection 2.x's --options also set config keys: load the config again with them
        args.cfg_options = {**(args.cfg_options or {}), **to_config}
        try:
            cfg = load_config(args)
        except ConfigError as exc:
            named = [k for k in to_config if k in str(exc)] or list(to_config)
            kinds = ', '.join(sorted({str(m.get('type')) for m in _metric_cfgs(cfg.get('test_evaluator'))}))
            raise ConfigError(f'--options {", ".join(named)}: neither an argument of the test_evaluator '
                              f'({kinds or "none"}) nor a config key: {exc}') from exc
    if apply_txtfile_prefix(cfg, txtfile_prefix, metrics, format_only, to_metric):
        format_only = False  # the CityscapesMetric writes the files
    apply_eval_args(cfg, metrics, to_metric, format_only)
    if getattr(args, 'tta', False):
        from ..models.tta import apply_tta  # the model wraps the detector: the checkpoint loads into it
        apply_tta(cfg, log=logging.getLogger('visioncraft').info)
    cfg['load_from'] = args.checkpoint
    cfg['resume'] = False
    outs = [o for o in (args.out, args.dump) if o]
    # MMPose's `test.py --out FILE.json` saves the metrics; a .pkl / .pickle (MMDetection, MMOCR) the predictions
    args.metrics_files = [o for o in outs if o.endswith('.json')]
    outs = [o for o in outs if not o.endswith('.json')]
    if args.save_preds:
        outs.append('__log_dir__/predictions.pkl')
    if outs:
        for o in outs:
            if not o.endswith(('.pkl', '.pickle')):
                raise SystemExit(f'--out/--dump must name a .pkl or .pickle file (the predictions) or a .json file '
                                 f'(the metrics), got {o!r}')
        dumps = [dict(type='DumpResults', out_file_path=o) for o in outs]
        evaluators = cfg.get('test_evaluator')
        kind = evaluators.get('type') if isinstance(evaluators, dict) else None
        if kind is not None and kind not in EVALUATORS:
            kind = None  # a single metric config
        if kind == 'MultiDatasetsEvaluator':  # its metrics run on every test set; a DumpResults one sees them all
            key = 'metrics' if evaluators.get('metrics') is not None else 'metric'
            metrics = evaluators[key]
            metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
            cfg['test_evaluator'] = dict(evaluators, **{key: metrics + dumps})
        elif kind not in (None, 'Evaluator'):
            raise SystemExit(f'--out / --dump / --save-preds: test_evaluator type {kind!r} cannot also dump '
                             'predictions; use a list of metrics or MultiDatasetsEvaluator')
        else:
            metrics = evaluators.get('metrics', []) if kind == 'Evaluator' else evaluators
            metrics = list(metrics) if isinstance(metrics, (list, tuple)) else ([] if metrics is None else [metrics])
            cfg['test_evaluator'] = metrics + dumps
    enable_visualization(cfg, args, testing=True)
    return cfg


def main(argv: list[str] | None = None, prog: str = 'visioncraft test') -> dict:
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace) -> dict:
    """Test as the parsed ``args`` (of :func:`build_parser`) say; returns the metrics."""
    cfg = prepare_config(args)
    check_run_config(cfg, 'test')
    metrics = run_in_process_group(_run_test, cfg)
    for path in getattr(args, 'metrics_files', []):
        if metrics is not None:  # rank 0 (and the one process)
            atomic_write_text(path, json.dumps(metrics, indent=2, default=float) + '\n')
            logging.getLogger('visioncraft').info(f'Metrics written to {path}')
    return metrics


def _evaluator_ann_files(evaluator) -> list:
    """The ``ann_file`` values of a test_evaluator config (one metric, a list, or an Evaluator / multi-dataset one)."""
    if isinstance(evaluator, dict):
        inner = evaluator.get('metrics', evaluator.get('metric'))
        return ([evaluator['ann_file']] if 'ann_file' in evaluator else []) + \
            (_evaluator_ann_files(inner) if isinstance(inner, (dict, list, tuple)) else [])
    if isinstance(evaluator, (list, tuple)):
        return [f for e in evaluator for f in _evaluator_ann_files(e)]
    return []


def generate_test_data_first(cfg) -> None:
    """Build the test dataset before the Runner when an evaluator's ``ann_file`` does not exist yet.

    A quickstart dataset (DetShapesDataset, PoseSynthDataset, ...) writes its data on first use, and a metric such
    as CocoMetric reads its ``ann_file`` (that data's annotations) as it is built, which the Runner does before it
    builds the test dataloader: in a clean directory the test would stop on a missing file the next step would
    have written. Any other dataset then fails here with its own error naming the missing file."""
    missing = [f for f in _evaluator_ann_files(cfg.get('test_evaluator'))
               if isinstance(f, str) and '://' not in f and not os.path.exists(f)]
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') if isinstance(cfg.get('test_dataloader'), dict) \
        else None
    if not missing or not isinstance(dataset, dict):
        return
    dataset = copy.deepcopy(dataset.to_dict() if hasattr(dataset, 'to_dict') else dict(dataset))
    dataset['lazy_init'] = True  # the data is written as the dataset is built; its annotations are read later
    try:
        previous = set_default_scope(cfg.get('default_scope'))
    except ValueError:  # an unknown default_scope: the Runner says so
        return
    try:
        with config_file_context(getattr(cfg, 'filename', None)):
            try:
                DATASETS.build(dataset, key_path='test_dataloader.dataset')
            except TypeError as exc:  # a dataset (wrapper) without lazy_init: built in full
                if 'lazy_init' not in str(exc):
                    raise
                dataset.pop('lazy_init')
                DATASETS.build(dataset, key_path='test_dataloader.dataset')
    finally:
        set_default_scope(previous)


def _run_test(cfg) -> dict:
    generate_test_data_first(cfg)
    runner = Runner(cfg)
    check_checkpoint_fits(runner.model, cfg['load_from'])  # before the test data is read: a clear error
    for m in getattr(runner.test_loop.evaluator, 'metrics', []):  # resolve the --save-preds path
        path = getattr(m, 'out_file_path', None)
        if isinstance(path, str) and path.startswith('__log_dir__/'):
            m.out_file_path = str(runner.log_dir / path.split('/', 1)[1])
    metrics = runner.test()
    if runner.rank == 0:
        out = runner.log_dir / 'metrics.json'
        out.write_text(json.dumps(metrics, indent=2, default=float))
        runner.logger.info(f'Metrics: {json.dumps(metrics, default=float)}')
        runner.logger.info(f'Metrics written to {out}')
    return metrics


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
