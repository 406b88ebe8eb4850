"""MMEngine's plain ``_base_.x`` references in Python configs (MMOCR 1.x's model and dataset schema) and
``{{ fileDirname }}`` with spaces inside the braces."""
from __future__ import annotations

import textwrap

import pytest

from visioncraft.config import Config, ConfigError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


@pytest.fixture
def bases(tmp_path):
    write(tmp_path, '_base_model.py', """
        model = dict(type='DBNet', backbone=dict(type='mmdet.ResNet', depth=18, style='caffe'),
                     det_head=dict(type='DBHead', in_channels=256))
        train_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(640, 640))]
        """)
    write(tmp_path, 'icdar2015.py', """
        ic15_det_data_root = 'data/icdar2015'
        ic15_det_train = dict(type='OCRDataset', data_root=ic15_det_data_root, ann_file='textdet_train.json',
                              pipeline=None)
        """)
    write(tmp_path, 'schedule.py', "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1200)\n")
    return tmp_path


def test_mmocr_dataset_schema_alias_and_pipeline(bases):
    path = write(bases, 'dbnet.py', """
        _base_ = ['_base_model.py', 'icdar2015.py', 'schedule.py']
        ic15_det_train = _base_.ic15_det_train
        ic15_det_train.pipeline = _base_.train_pipeline
        train_dataloader = dict(batch_size=16, dataset=ic15_det_train)
        """)
    cfg = Config.fromfile(path)
    assert cfg.train_dataloader.dataset.pipeline[1].scale == (640, 640)
    assert cfg.ic15_det_train.pipeline[0].type == 'LoadImageFromFile'
    assert cfg.train_dataloader.dataset.ann_file == 'textdet_train.json'


def test_editing_base_values_changes_what_the_file_inherits(bases):
    path = write(bases, 'child.py', """
        _base_ = ['_base_model.py', 'schedule.py']
        _base_.model.backbone = dict(type='ResNet', depth=50)   # replaces the whole backbone, as in mmengine
        _base_.train_cfg.update(max_epochs=20)
        _base_['train_pipeline'][1]['scale'] = (320, 320)
        model = dict(det_head=dict(in_channels=128))            # then merged on top, as usual
        """)
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.to_dict() == {'type': 'ResNet', 'depth': 50}
    assert cfg.model.det_head.in_channels == 128 and cfg.model.type == 'DBNet'
    assert cfg.train_cfg.max_epochs == 20 and cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.train_pipeline[1].scale == (320, 320)


def test_base_name_itself_is_not_a_config_key(bases):
    cfg = Config.fromfile(write(bases, 'child.py', "_base_ = ['schedule.py']\nx = _base_.train_cfg.max_epochs\n"))
    assert cfg.x == 1200 and '_base_' not in cfg


def test_missing_base_key_names_file_line_and_close_key(bases):
    path = write(bases, 'child.py', "_base_ = ['schedule.py']\n\nx = _base_.train_cgf\n")
    with pytest.raises(ConfigError, match=r"child\.py, line 3: .*'train_cgf'.*'train_cfg'"):
        Config.fromfile(path)


def test_base_reference_without_bases_is_an_error(tmp_path):
    path = write(tmp_path, 'alone.py', 'x = _base_.model\n')
    with pytest.raises(ConfigError, match=r'alone\.py, line 1: _base_\.model is used but the file has no _base_'):
        Config.fromfile(path)


def test_file_dirname_with_spaces_in_the_braces(tmp_path):
    sub = tmp_path / 'textrecog' / 'crnn'
    sub.mkdir(parents=True)
    cfg = Config.fromfile(write(sub, 'c.py', """
        dictionary = dict(dict_file='{{ fileDirname }}/../../dicts/lower_english_digits.txt')
        name = '{{fileBasenameNoExtension}}'
        """))
    assert cfg.dictionary.dict_file == f'{sub.as_posix()}/../../dicts/lower_english_digits.txt'
    assert cfg.name == 'c'
