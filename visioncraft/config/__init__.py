"""Config files: ``.py`` / ``.yaml`` / ``.json`` with ``_base_`` inheritance, overrides and dumping.

See :mod:`visioncraft.config.config` for the loading rules and
:mod:`visioncraft.config.overrides` for the ``--cfg-options`` value syntax.
"""
from .compat.paddleocr import is_paddleocr_config, load_paddleocr_config  # PaddleOCR-layout YAML configs
from .config import Config, ConfigError, import_custom_modules
from .config_dict import ConfigDict
from .overrides import DictAction, parse_override_value

__all__ = ['Config', 'ConfigDict', 'DictAction', 'ConfigError', 'parse_override_value', 'import_custom_modules',
           'is_paddleocr_config', 'load_paddleocr_config']
