"""Reading a PaddleOCR-layout YAML onto the internal config in one call: read, override, translate."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from visioncraft.config.config import Config

from .layout import load_paddleocr_yaml, plain
from .overrides import apply_paddleocr_overrides
from .translate import translate_paddleocr

__all__ = ['load_paddleocr_config', 'translate_loaded']


def load_paddleocr_config(filename: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None, *,
                          replace: bool = True) -> Config:
    """Read a PaddleOCR YAML, apply ``-o`` overrides to its keys (``replace``: a mapping replaces the mapping
    there, as in PaddleOCR; see :func:`~.overrides.apply_paddleocr_overrides`), and translate it
    (:func:`~.translate.translate_paddleocr`)."""
    filename = os.fspath(filename)
    data = apply_paddleocr_overrides(load_paddleocr_yaml(filename), overrides, os.path.abspath(filename),
                                     replace=replace)
    return translate_paddleocr(data, filename)


def translate_loaded(data: Mapping[str, Any], filename: str | os.PathLike[str],
                     overrides: Mapping[str, Any] | None = None) -> Config:
    """:func:`load_paddleocr_config` on data already read (its ``_BASE_`` files merged) from ``filename``: what
    :meth:`Config.fromfile <visioncraft.config.Config.fromfile>` runs on a PaddleOCR-layout YAML."""
    filename = os.fspath(filename)
    data = apply_paddleocr_overrides(plain(data), overrides, os.path.abspath(filename), replace=True)
    return translate_paddleocr(data, filename)
