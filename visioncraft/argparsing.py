"""The argparse pieces every command-line parser shares (``visioncraft X``, ``tools/analysis_tools/*.py``,
``tools/dataset_converters/*.py``), from light imports only (argparse and :mod:`visioncraft.errors`): ``--help``
and a usage error answer before torch is imported."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ['OverridesAction', 'add_cfg_options', 'add_device_arg', 'CFG_OPTIONS_HELP', 'AUTO_DEVICE', 'DEVICE_HELP']

CFG_OPTIONS_HELP = ('override config entries: a.b=1, lists as key="[a,b]", list items as a.0.b=c; a key that does '
                    'not exist is an error (prefix it with + to add it)')
#: the default of every ``--device`` flag: CUDA when this machine has it, else the CPU
#: (:func:`visioncraft.cli.parsers.resolve_device` turns it into a device after parsing)
AUTO_DEVICE = 'auto'
DEVICE_HELP = "device to run on: 'auto' (the default: CUDA when available, else the CPU), 'cpu' or 'cuda[:N]'"


class OverridesAction(argparse.Action):
    """``KEY=VALUE ...`` overrides into a dict: :class:`visioncraft.config.DictAction`, whose module is imported
    only when the flag is given (``visioncraft.config`` loads torch: ``--help`` must not)."""

    def __init__(self, option_strings: Sequence[str], dest: str, nargs: Any = '+', **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=nargs, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from .config import DictAction  # deferred: --help must not import torch (visioncraft.config does)
        DictAction.__call__(self, parser, namespace, values, option_string)


def add_cfg_options(parser: argparse.ArgumentParser, *aliases: str, help: str | None = CFG_OPTIONS_HELP) -> None:
    """``--cfg-options`` / ``-o`` (and the flags ``aliases``): ``KEY=VALUE ...`` config overrides into a dict
    (``{}`` when not given)."""
    parser.add_argument('--cfg-options', '-o', *aliases, nargs='+', action=OverridesAction, default={},
                        metavar='KEY=VALUE', help=help)


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device``, default ``auto`` (:data:`AUTO_DEVICE`)."""
    parser.add_argument('--device', default=AUTO_DEVICE, help=DEVICE_HELP)
