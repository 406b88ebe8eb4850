"""Where visualizations go: local files (JSON-lines scalars, PNG images) and TensorBoard."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import VISBACKENDS

__all__ = ['BaseVisBackend', 'LocalVisBackend', 'TensorboardVisBackend']


class BaseVisBackend:
    def __init__(self, save_dir: str | Path | None = None) -> None:
        self.save_dir = Path(save_dir) if save_dir else None

    def set_save_dir(self, save_dir: str | Path) -> None:
        if self.save_dir is None:
            self.save_dir = Path(save_dir)

    def add_config(self, config_text: str) -> None: ...
    def add_scalars(self, scalars: dict[str, float], step: int) -> None: ...
    def add_image(self, name: str, image: np.ndarray, step: int) -> None: ...
    def close(self) -> None: ...


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if hasattr(v, 'item'):
        return _jsonable(v.item())
    return v


@VISBACKENDS.register_module()
class LocalVisBackend(BaseVisBackend):
    """``<save_dir>/scalars.json`` (one JSON object per line, with ``step``), ``config.py`` and
    ``vis_image/<name>_<step>.png``."""

    def add_config(self, config_text: str) -> None:
        assert self.save_dir is not None
        self.save_dir.mkdir(parents=True, exist_ok=True)
        (self.save_dir / 'config.py').write_text(config_text)

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        assert self.save_dir is not None
        self.save_dir.mkdir(parents=True, exist_ok=True)
        row = {k: _jsonable(v) for k, v in scalars.items()}
        row['step'] = int(step)
        with open(self.save_dir / 'scalars.json', 'a', encoding='utf-8') as f:
            f.write(json.dumps(row) + '\n')

    def add_image(self, name: str, image: np.ndarray, step: int) -> None:
        import cv2
        assert self.save_dir is not None
        out = self.save_dir / 'vis_image' / f'{name.replace("/", "_")}_{step}.png'
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), np.ascontiguousarray(image[..., ::-1]))  # RGB -> BGR for OpenCV


@VISBACKENDS.register_module()
class TensorboardVisBackend(BaseVisBackend):
    """TensorBoard event files in ``<save_dir>``: ``tensorboard --logdir WORK_DIR/TIMESTAMP/vis_data``."""

    def __init__(self, save_dir: str | Path | None = None) -> None:
        super().__init__(save_dir)
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter
            assert self.save_dir is not None
            self._writer = SummaryWriter(str(self.save_dir))
        return self._writer

    def add_config(self, config_text: str) -> None:
        self.writer.add_text('config', f'```\n{config_text}\n```')

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        for k, v in scalars.items():
            if isinstance(v, (int, float)) and k not in ('epoch', 'iter', 'step'):
                self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def add_image(self, name: str, image: np.ndarray, step: int) -> None:
        self.writer.add_image(name, image, step, dataformats='HWC')
        self.writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
