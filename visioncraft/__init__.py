"""VisionCraft: train, test, run and export computer-vision models from config files.

``import visioncraft`` is light (it loads neither torch nor any task): the subpackages (``visioncraft.apis``,
``visioncraft.engine``, ...) load when first used, and the first look-up in a registry imports every built-in
module (:func:`visioncraft.registry.import_builtin_modules`), so a built-in ``type`` can never be "not in the
registry".
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = '0.1.0'

#: subpackages reachable as attributes (``visioncraft.apis.init_detector``), imported on first use
_SUBMODULES = ('apis', 'config', 'data', 'dist', 'engine', 'errors', 'evaluation', 'export', 'fileio', 'models',
               'registry', 'structures', 'tasks', 'visualization')

__all__ = ['__version__', 'registry', 'UserError']


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f'{__name__}.{name}')
    if name == 'UserError':
        return importlib.import_module(f'{__name__}.errors').UserError
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES) | {'UserError'})
