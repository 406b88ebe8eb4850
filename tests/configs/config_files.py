"""Which files under configs/ are recipes, shared by the config tests."""
from __future__ import annotations

from pathlib import Path


def is_name_alias(path: Path) -> bool:
    """A file that is only ``_base_ = '<other config>'`` (and comments): another name of that recipe (MMDetection
    2.x's faster_rcnn_r50_fpn_1x_coco.py for faster-rcnn_r50_fpn_1x_coco.py), checked by test_guide_config_paths."""
    code = [ln for ln in path.read_text(encoding='utf-8').splitlines() if ln.strip() and not ln.startswith('#')]
    return len(code) == 1 and code[0].startswith('_base_ = ')


def recipes(folder: Path) -> list[Path]:
    """The recipes under ``folder``: not the shared parts (``_base_/`` folders, ``_base_*.py``) nor name aliases."""
    return sorted(p for p in folder.rglob('*.py')
                  if '_base_' not in p.parts and not p.name.startswith('_base_') and not is_name_alias(p))
