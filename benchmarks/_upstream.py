"""Shared by ``benchmarks/detection.py --against mmdet`` and ``benchmarks/pose.py --against mmpose``: import the
upstream toolbox (only when the flag is given), build its model from the config bundled in its package, and load
its state dict into our model built from our config of the same name.

The upstream packages are never dependencies of VisionCraft: they live in a scratch venv (see
tests/reference/make_reference.py for how one is made) into which VisionCraft is installed with
``pip install --no-deps -e .``; the benchmark is then run with that venv's python.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tests' / 'reference'))
from reference_weights import set_dotted, strip_pretrained  # noqa: E402  (the parity tests' helper: no pretrained downloads)


class UpstreamMissing(SystemExit):
    """``--against PKG`` without PKG importable: exits with a message saying what to install where."""


def require_upstream(pkg: str, flag: str = '--against'):
    """Import the upstream toolbox ``pkg`` or exit with a message naming what is missing."""
    try:
        return importlib.import_module(pkg)
    except ImportError as exc:
        raise UpstreamMissing(
            f'{flag} {pkg} needs the upstream package {pkg!r} importable by this python ({sys.executable}): '
            f'{exc}. Install it in a separate venv (never into VisionCraft\'s; see '
            f'tests/reference/make_reference.py for mmcv / {pkg}), install VisionCraft there with '
            f'`pip install --no-deps -e {REPO}`, and run this script with that venv\'s python.') from exc




def vary_batchnorm(bns, generator) -> None:
    """Prepare BatchNorm layers ``bns`` for calibration: running statistics reset to a cumulative average (the next
    train-mode forward sets them from its images) and affine parameters drawn from ``generator`` (weights in
    [0.5, 1.5), biases in [-0.2, 0.2)), so that random-init benchmark models give varied, well-scaled features."""
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.weight.data.uniform_(0.5, 1.5, generator=generator)
        m.bias.data.uniform_(-0.2, 0.2, generator=generator)


def upstream_model(pkg: str, rel: str, overrides: dict | None = None):
    """The upstream model of ``<pkg>/.mim/configs/<rel>`` (init_weights() run, pretrained init stripped) and its
    config."""
    mod = require_upstream(pkg)
    from mmengine.config import Config
    importlib.import_module(f'{pkg}.utils').register_all_modules(init_default_scope=True)
    registry = importlib.import_module(f'{pkg}.registry').MODELS
    path = Path(mod.__file__).parent / '.mim' / 'configs' / rel
    if not path.is_file():
        raise SystemExit(f'{pkg} {mod.__version__} has no bundled config {path}')
    cfg = Config.fromfile(str(path))
    for key, value in (overrides or {}).items():
        set_dotted(cfg, key, value)
    strip_pretrained(cfg.model)
    model = registry.build(cfg.model)
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights() logs every parameter's initialiser at INFO
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model, cfg




def our_model(config: str | Path, state_dict: dict, overrides: dict | None = None, backbone: dict | None = None):
    """Our model from our config ``config`` (relative to the repository or absolute), given the upstream
    ``state_dict`` through our checkpoint loader (which renames upstream keys). Every weight must find its place:
    otherwise a RuntimeError lists the keys that failed."""
    import torch  # noqa: F401

    from visioncraft.config import Config
    from visioncraft.registry import MODELS, import_builtin_modules
    import_builtin_modules()
    path = Path(config)
    cfg = Config.fromfile(str(path if path.is_absolute() else REPO / path))
    if overrides:
        cfg.merge_from_dict(dict(overrides))
    strip_pretrained(cfg.model)
    for name, value in (backbone or {}).items():
        cfg.model['backbone'][name] = value
    model = MODELS.build(cfg.model)
    load_upstream_state(model, state_dict, path.name)
    return model, cfg


def load_upstream_state(model, state_dict: dict, name: str) -> None:
    """Load an upstream state dict into our ``model`` through our checkpoint loader (which renames upstream keys);
    a RuntimeError lists the keys that failed unless every weight found its place."""
    from visioncraft.fileio.checkpoint import load_model_weights
    report = load_model_weights(model, state_dict, source=f'the upstream state dict ({name})')
    missing = [k for k in report.missing if not k.endswith('num_batches_tracked')]
    if missing or report.unexpected or report.mismatched:
        raise RuntimeError(
            f'the upstream state dict does not load cleanly into our {name}: {len(missing)} of ours missing '
            f'{missing[:10]}, {len(report.unexpected)} upstream keys unused {report.unexpected[:10]}, '
            f'{len(report.mismatched)} of another shape {report.mismatched[:5]}')
