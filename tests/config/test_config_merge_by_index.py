"""A dict with int keys over a list changes list items by index (and keeps the rest of each item)."""
import pytest

from visioncraft.config import Config, ConfigError


def test_int_keyed_dict_merges_into_list_items(tmp_path):
    (tmp_path / 'base.py').write_text(
        "pipeline = [dict(type='Load'), dict(type='Resize', scale=(1333, 736), keep_ratio=True), dict(type='Pack')]\n"
        "sizes = (1, 2, 3)\n")
    (tmp_path / 'child.py').write_text(
        "_base_ = ['./base.py']\n"
        "pipeline = {1: dict(scale=(4068, 1024)), -1: dict(_delete_=True, type='PackOther')}\n"
        "sizes = {0: 10}\n")
    cfg = Config.fromfile(tmp_path / 'child.py')
    assert isinstance(cfg.pipeline, list) and [p.type for p in cfg.pipeline] == ['Load', 'Resize', 'PackOther']
    assert cfg.pipeline[1].scale == (4068, 1024) and cfg.pipeline[1].keep_ratio is True
    assert tuple(cfg.sizes) == (10, 2, 3)


def test_index_out_of_range_is_an_error(tmp_path):
    (tmp_path / 'base.py').write_text("pipeline = [dict(type='Load')]\n")
    (tmp_path / 'child.py').write_text("_base_ = ['./base.py']\npipeline = {3: dict(type='X')}\n")
    with pytest.raises(ConfigError, match='pipeline: index 3 is out of range for a list of 1 items'):
        Config.fromfile(tmp_path / 'child.py')
