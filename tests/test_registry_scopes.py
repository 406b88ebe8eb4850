"""Scoped names: one name, two toolboxes' classes ('mmdet.CocoDataset' vs 'mmpose.CocoDataset')."""
import pytest

from visioncraft.config import Config
from visioncraft.registry import Registry, RegistryError, default_scope, get_default_scope, set_default_scope


def _two_classes():
    reg = Registry('thing')

    @reg.register_module('CocoDataset')
    class DetCoco:
        pass

    @reg.register_module(['CocoPoseDataset', 'mmpose.CocoDataset'])
    class PoseCoco:
        pass

    return reg, DetCoco, PoseCoco


def test_scoped_name_resolves_by_prefix_and_default_scope():
    reg, det, pose = _two_classes()
    assert reg.get('CocoDataset') is det
    assert reg.get('mmdet.CocoDataset') is det  # mmdet has no own name: the global one
    assert reg.get('mmpose.CocoDataset') is pose
    assert reg.get('CocoPoseDataset') is pose
    with default_scope('mmpose'):
        assert reg.get('CocoDataset') is pose
        assert reg.get('mmdet.CocoDataset') is det
        assert 'CocoDataset' in reg
    assert reg.get('CocoDataset') is det
    assert get_default_scope() is None


def test_scoped_duplicate_and_unknown_scope_are_errors():
    reg, _, _ = _two_classes()
    with pytest.raises(RegistryError, match='mmpose.CocoDataset'):
        reg.register_module('mmpose.CocoDataset', module=type('Other', (), {}))
    with pytest.raises(ValueError, match="'nosuchbox'"):
        set_default_scope('nosuchbox')


def test_runner_sets_default_scope_from_config(tmp_path):
    from visioncraft.engine.runner import Runner
    cfg = Config(dict(default_scope='mmpose', work_dir=str(tmp_path), model=None))
    previous = get_default_scope()
    try:
        try:
            Runner(cfg)
        except Exception:  # noqa: BLE001 - a config without a model may fail later; the scope is set first
            pass
        assert get_default_scope() == 'mmpose'
    finally:
        set_default_scope(previous)
