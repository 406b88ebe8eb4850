"""What a PaddleOCR config looks like: the sections, the documented ``Global`` keys, telling a PaddleOCR YAML
from the other configs (:func:`is_paddleocr_config`) and reading it as plain data (:func:`load_paddleocr_yaml`)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from visioncraft.config.config import Config, ConfigError

__all__ = ['SECTIONS', 'GLOBAL_KEYS', 'is_paddleocr_config', 'is_paddleocr_layout', 'load_paddleocr_yaml', 'plain']

#: the top-level sections of a PaddleOCR config
SECTIONS = ('Global', 'Architecture', 'Loss', 'Optimizer', 'PostProcess', 'Metric', 'Train', 'Eval')

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
    return is_paddleocr_layout(data)


def is_paddleocr_layout(data: Any) -> bool:
    """True for config data in PaddleOCR's layout: a mapping whose top level has ``Global`` and ``Architecture``
    (what :meth:`Config.fromfile <visioncraft.config.Config.fromfile>` translates; other YAML loads as written)."""
    return isinstance(data, Mapping) and 'Global' in data and 'Architecture' in data


def plain(value: Any) -> Any:
    """``value`` as YAML holds it: every mapping a ``dict``, every list or tuple a ``list``."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def load_paddleocr_yaml(path: str | os.PathLike[str]) -> dict:
    """The PaddleOCR config in ``path`` as plain dicts and lists (``_BASE_`` files are merged first, as the
    regular loader does)."""
    cfg = Config.fromfile(path, import_custom_modules=False, translate=False)
    data = plain(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg.items()))
    missing = [s for s in ('Global', 'Architecture') if not isinstance(data.get(s), dict)]
    if missing:
        raise ConfigError(f'{cfg.filename}: a PaddleOCR config needs the mappings Global and Architecture '
                          f'(missing or not a mapping: {", ".join(missing)})')
    return data
