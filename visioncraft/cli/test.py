"""``visioncraft test CONFIG CHECKPOINT`` (also ``tools/test.py``)."""
from __future__ import annotations

import argparse
import json
import sys

from .common import add_common_args, enable_visualization, load_config, run_in_process_group

__all__ = ['build_parser', 'main', 'prepare_config']


def build_parser(prog: str = 'visioncraft test') -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description='Test (evaluate) a checkpoint on the test set.')
    p.add_argument('config', help='config file (.py, .yaml or .json)')
    p.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    p.add_argument('--out', help='write the predictions to this pickle file (.pkl)')
    p.add_argument('--dump', help='same as --out (MMPose spelling)')
    p.add_argument('--save-preds', action='store_true',
                   help='write the predictions to WORK_DIR/TIMESTAMP/predictions.pkl (MMOCR spelling)')
    add_common_args(p)
    p.add_argument('--show-score-thr', type=float, default=None,
                   help='--show / --show-dir pictures leave out predictions scoring below this (default: the '
                        "config's default_hooks.visualization.score_thr, else 0.3)")
    return p


def prepare_config(args: argparse.Namespace):
    cfg = load_config(args)
    cfg['load_from'] = args.checkpoint
    cfg['resume'] = False
    outs = [o for o in (args.out, args.dump) if o]
    if args.save_preds:
        outs.append('__log_dir__/predictions.pkl')
    if outs:
        for o in outs:
            if not o.endswith(('.pkl', '.pickle')):
                raise SystemExit(f'--out/--dump must name a .pkl or .pickle file, got {o!r}')
        dumps = [dict(type='DumpResults', out_file_path=o) for o in outs]
        evaluators = cfg.get('test_evaluator')
        from ..registry import EVALUATORS
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
    args = build_parser(prog).parse_args(argv)
    cfg = prepare_config(args)
    return run_in_process_group(_run_test, cfg)


def _run_test(cfg) -> dict:
    from ..engine import Runner
    runner = Runner(cfg)
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
    main(sys.argv[1:])
