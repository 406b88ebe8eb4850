"""A PaddleOCR-layout YAML wherever a config path is accepted (``Config.fromfile``, the inferencers, ``visioncraft
export``, ``visioncraft ocr --det X.yml``, the analysis tools); a bad key is one ``error:`` line with exit status 2
from each entry point; weights are checked when loaded, not when the config is read; ``-o Global.use_gpu=True``
without a GPU; ``LMDBDateSet``; PaddleOCR's ``train_data/icdar2015/text_localization/`` layout read by
``configs/det/det_mv3_db.yml``."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from visioncraft.config import Config
from visioncraft.errors import run_entry_point
from visioncraft.registry import DATASETS, MODELS

MV3 = REPO / 'configs/det/det_mv3_db.yml'
TINY_DET = REPO / 'configs/det/det_tiny_synth.yml'
TINY_REC = REPO / 'configs/rec/rec_tiny_synth.yml'


def _edited(src: Path, out: Path, edit) -> Path:
    data = yaml.safe_load(src.read_text())
    edit(data)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _weights(cfg_path: Path, out: Path) -> Path:
    """Random weights of the model ``cfg_path`` describes, saved as a checkpoint."""
    model = MODELS.build(Config.fromfile(cfg_path).model.to_dict())
    torch.save({'state_dict': model.state_dict()}, out)
    return out


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny detector / recogniser pair of PaddleOCR YAMLs with their checkpoints, and one image."""
    root = tmp_path_factory.mktemp('paddle_dropin')
    det_ckpt = _weights(TINY_DET, root / 'det.pth')
    rec_ckpt = _weights(TINY_REC, root / 'rec.pth')
    img = root / 'img.jpg'
    cv2.imwrite(str(img), np.full((64, 96, 3), 255, np.uint8))
    return dict(root=root, det_ckpt=det_ckpt, rec_ckpt=rec_ckpt, img=img)


# -- one loading path ------------------------------------------------------------------------------------------
def test_config_fromfile_translates_a_paddleocr_yaml_with_its_own_override_keys():
    cfg = Config.fromfile(MV3, {'Global.epoch_num': 3, 'Optimizer.base_lr': 1e-4})
    assert cfg.model.type == 'DBNet' and cfg.paddleocr.model_type == 'det'
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.train_dataloader.dataset.type == 'PaddleOCRDetDataset'
    raw = Config.fromfile(MV3, translate=False)  # as written
    assert raw.Global.epoch_num == 1200 and 'model' not in raw


def test_the_apis_and_tools_take_a_paddleocr_yaml(tiny, tmp_path, monkeypatch):
    from visioncraft.analysis.flops import load_config
    from visioncraft.analysis.inputs import read_config
    from visioncraft.apis import TextDetInferencer, TextRecInferencer
    from visioncraft.cli.ocr import main as ocr_main
    assert load_config(TINY_DET, {'Global.epoch_num': 2}).train_cfg.max_epochs == 2
    assert read_config(TINY_DET).model.type == 'DBNet'
    det = TextDetInferencer(str(TINY_DET), str(tiny['det_ckpt']), device='cpu')
    assert det.model is not None and 'predictions' in det(str(tiny['img']))
    assert TextRecInferencer(str(TINY_REC), str(tiny['rec_ckpt']), device='cpu').model is not None
    # visioncraft ocr --det X.yml: the weights default to Global.pretrained_model, as PaddleOCR's tools
    det_yml = _edited(TINY_DET, tmp_path / 'det.yml',
                      lambda d: d['Global'].update(pretrained_model=str(tiny['det_ckpt'])[:-len('.pth')]))
    monkeypatch.chdir(tmp_path)
    out = ocr_main([str(tiny['img']), '--det', str(det_yml), '--rec', str(TINY_REC), '--rec-weights',
                    str(tiny['rec_ckpt']), '--out-dir', str(tmp_path / 'ocr'), '--device', 'cpu', '--no-draw'])
    assert list(out) == ['img.jpg']


def _exit_line(capsys, fn, *args) -> str:
    with pytest.raises(SystemExit) as info:
        run_entry_point(fn, *args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith('error: ') and 'Traceback' not in '\n'.join(err)
    return err[-1]


@pytest.mark.parametrize('broken', ['translate', 'build'])
def test_a_bad_key_is_one_line_and_status_2_from_every_entry_point(tiny, tmp_path, capsys, monkeypatch, broken):
    """``translate``: a key the translator refuses; ``build``: one the model class refuses (a registered custom
    backbone takes its keys as they are)."""
    from visioncraft.analysis.arguments import run_tool
    from visioncraft.cli.main import run_command

    def edit(d):
        if broken == 'translate':
            d['Architecture']['Neck']['out_chanels'] = d['Architecture']['Neck'].pop('out_channels')
        else:
            d['Architecture']['Backbone']['stem_chanels'] = d['Architecture']['Backbone'].pop('stem_channels')
    bad = str(_edited(TINY_DET, tmp_path / 'bad.yml', edit))
    expect = 'out_chanels' if broken == 'translate' else 'stem_chanels'
    monkeypatch.chdir(tmp_path)  # what a run writes (output/...) stays here
    ckpt, img = str(tiny['det_ckpt']), str(tiny['img'])
    runs = [('config', [bad]),
            ('train', ['-c', bad, '-o', f'Global.save_model_dir={tmp_path / "wd"}']),
            ('export', [bad, ckpt, '--out-dir', str(tmp_path / 'exp')]),
            ('ocr', [img, '--det', bad, '--det-weights', ckpt, '--rec', str(TINY_REC), '--rec-weights',
                     str(tiny['rec_ckpt']), '--device', 'cpu']),
            ('infer_det', ['-c', bad, '-o', f'Global.infer_img={img}', f'Global.pretrained_model={ckpt}'])]
    if broken == 'build':
        runs = runs[1:]  # `visioncraft config` only prints: it builds nothing
    for command, argv in runs:
        line = _exit_line(capsys, run_command, command, argv)
        assert expect in line and 'bad.yml' in line, (command, line)
    line = _exit_line(capsys, run_tool, 'get_flops', [bad, '--shape', '64'])
    assert expect in line and 'bad.yml' in line


# -- weights ------------------------------------------------------------------------------------------------------
def test_a_missing_pretrained_model_fails_when_loaded_not_when_read(tiny, tmp_path, capsys, caplog, monkeypatch):
    from visioncraft.apis import TextDetInferencer
    from visioncraft.cli.main import run_command
    gone = str(tmp_path / 'pretrain_models' / 'MobileNetV3_large_x0_5_pretrained')
    with caplog.at_level('WARNING', logger='visioncraft'):
        cfg = Config.fromfile(MV3, {'Global.pretrained_model': gone})  # reading it is fine (with a warning)
    assert cfg.load_from == gone and cfg.paddleocr.pretrained_model == gone
    assert 'none of' in caplog.text and 'loading it will fail' in caplog.text
    # loading is the error
    with pytest.raises(FileNotFoundError, match='MobileNetV3_large_x0_5_pretrained'):
        TextDetInferencer(str(TINY_DET), device='cpu', cfg_options={'Global.pretrained_model': gone})
    monkeypatch.chdir(tmp_path)
    line = _exit_line(capsys, run_command, 'train', ['-c', str(TINY_DET), '-o', f'Global.pretrained_model={gone}',
                                                     f'Global.save_model_dir={tmp_path / "wd"}'])
    assert 'not found' in line and gone in line
    # the file PaddleOCR's guide downloads, named without its suffix, as the guide does
    Path(gone).parent.mkdir()
    Path(gone + '.pdparams').write_bytes(b'')
    assert Config.fromfile(MV3, {'Global.pretrained_model': gone}).load_from == gone + '.pdparams'


def test_a_missing_checkpoints_falls_back_to_pretrained_model(tiny, tmp_path):
    wrong = str(tmp_path / 'output' / 'best_accuracy')
    cfg = Config.fromfile(TINY_DET, {'Global.checkpoints': wrong,
                                     'Global.pretrained_model': str(tiny['det_ckpt'])[:-len('.pth')]})
    assert (cfg.load_from, cfg.resume) == (str(tiny['det_ckpt']), False)
    cfg = Config.fromfile(TINY_DET, {'Global.checkpoints': wrong})  # nothing to fall back to: fails when loaded
    assert (cfg.load_from, cfg.resume) == (wrong, True)


def test_use_gpu_on_the_command_line_without_a_gpu_is_one_line(tmp_path, capsys, monkeypatch):
    from visioncraft.cli.main import run_command
    if torch.cuda.is_available():  # pragma: no cover
        pytest.skip('this machine has a GPU')
    monkeypatch.chdir(tmp_path)
    line = _exit_line(capsys, run_command, 'train', ['-c', str(TINY_DET), '-o', 'Global.use_gpu=True'])
    assert 'Global.use_gpu=True' in line and 'no CUDA GPU' in line
    line = _exit_line(capsys, run_command, 'predict_det', ['--det_model_dir', str(tmp_path), '--image_dir',
                                                           str(tmp_path), '--use_gpu=True'])
    assert '--use_gpu=True' in line


# -- datasets -----------------------------------------------------------------------------------------------------
def test_lmdbdateset_the_old_spelling_is_lmdbdataset(tmp_path):
    def edit(d):
        for split in ('Train', 'Eval'):
            d[split]['dataset'] = dict(name='LMDBDateSet', data_dir=str(tmp_path / split),
                                       transforms=d[split]['dataset']['transforms'])
    cfg = Config.fromfile(_edited(TINY_REC, tmp_path / 'rec.yml', edit))
    assert cfg.train_dataloader.dataset.type == 'RecogLMDBDataset'
    assert cfg.train_dataloader.dataset.ann_file == str(tmp_path / 'Train')
    assert cfg.val_dataloader.dataset.type == 'RecogLMDBDataset'


def test_det_mv3_db_reads_paddleocrs_icdar2015_layout(tmp_path, monkeypatch):
    """``./train_data/icdar2015/text_localization/`` with ``icdar_c4_train_imgs/``, ``ch4_test_images/`` and the
    ``path\\t[json]`` label files, as PaddleOCR's dataset guide lays it out, read by the shipped YAML unchanged."""
    root = tmp_path / 'train_data' / 'icdar2015' / 'text_localization'
    for folder, label, name in (('icdar_c4_train_imgs', 'train_icdar2015_label.txt', 'img_1.jpg'),
                                ('ch4_test_images', 'test_icdar2015_label.txt', 'img_2.jpg')):
        (root / folder).mkdir(parents=True)
        cv2.imwrite(str(root / folder / name), np.full((72, 128, 3), 200, np.uint8))
        regions = [dict(transcription='Genaxis', points=[[10, 10], [60, 10], [60, 30], [10, 30]]),
                   dict(transcription='###', points=[[70, 40], [120, 40], [120, 60], [70, 60]])]
        (root / label).write_text(f'{folder}/{name}\t{json.dumps(regions)}\n', encoding='utf-8')
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(MV3)
    train = DATASETS.build(cfg.train_dataloader.dataset.to_dict())
    assert len(train) == 1
    info = train.get_data_info(0)
    assert Path(info['img_path']).resolve() == (root / 'icdar_c4_train_imgs' / 'img_1.jpg').resolve()
    assert [i['ignore'] for i in info['instances']] == [False, True]
    assert info['instances'][0]['polygon'] == [10, 10, 60, 10, 60, 30, 10, 30]
    sample = train[0]  # the whole training pipeline: augmentation, 640 x 640 crop, DB targets
    assert tuple(sample['inputs'].shape) == (3, 640, 640)
    val = DATASETS.build(cfg.val_dataloader.dataset.to_dict())
    assert len(val) == 1 and val.get_data_info(0)['img_path'].endswith('ch4_test_images/img_2.jpg')
    packed = val[0]
    assert packed['data_samples'].gt_instances.polygons  # the annotation comes through
