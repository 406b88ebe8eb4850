"""PaddleOCR-layout YAML configs: detection, strict -o overrides, and the translation onto the internal config
(Global, Optimizer / lr / regularizer, loaders, and the det translator's model, codec, pipelines, metric)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO
from visioncraft.config import ConfigError
from visioncraft.config.compat.paddleocr import (PaddleOCRTaskTranslator, apply_paddleocr_overrides,
                                                 is_paddleocr_config, load_paddleocr_config, load_paddleocr_yaml,
                                                 paddleocr_translators, register_paddleocr_translator,
                                                 translate_paddleocr)
from visioncraft.engine.optim import build_param_schedulers
from visioncraft.registry import MODELS, PADDLE_TRANSLATORS, RegistryError

MV3 = REPO / 'configs/det/det_mv3_db.yml'
R50 = REPO / 'configs/det/det_r50_vd_db.yml'
TINY = REPO / 'configs/det/det_tiny_synth.yml'


def _variant(tmp_path: Path, edit, src: Path = MV3) -> Path:
    """A copy of ``src`` with ``edit(data)`` applied to its parsed YAML."""
    data = yaml.safe_load(src.read_text())
    edit(data)
    out = tmp_path / 'variant.yml'
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def test_detects_the_layout_and_registers_det():
    assert is_paddleocr_config(MV3) and is_paddleocr_config(TINY)
    assert not is_paddleocr_config(REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py')
    assert 'det' in paddleocr_translators()


def test_det_mv3_db_translates_to_the_internal_config():
    cfg = load_paddleocr_config(MV3)
    model = cfg.model.to_dict()
    assert model['type'] == 'DBNet'
    # NormalizeImage (scale '1./255.') -> mean / std x 255; DecodeImage BGR -> channels stay BGR
    assert model['data_preprocessor'] == dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                              std=[58.395, 57.12, 57.375], bgr_to_rgb=False, pad_size_divisor=32)
    # PaddleOCR's own MobileNetV3 layout and names (its .pdparams load; tests/tasks/textdet/test_paddle_classic_parity)
    assert model['backbone'] == dict(type='PPDetMobileNetV3', model_name='large', scale=0.5, disable_se=False,
                                     in_channels=3)
    assert model['neck'] == dict(type='FPNC', lateral_channels=256, out_channels=64)
    head = model['det_head']
    assert head['type'] == 'DBHead' and head['k'] == 50
    assert head['loss'] == dict(type='DBLoss', loss_prob_weight=5.0, loss_thr_weight=10.0, loss_db_weight=1.0,
                                negative_ratio=3.0)
    # MakeBorderMap + MakeShrinkMap + DBPostProcess -> one codec
    assert head['codec'] == dict(type='DBCodec', shrink_ratio=0.4, thr_min=0.3, thr_max=0.7, min_text_size=8,
                                 thresh=0.3, box_thresh=0.6, unclip_ratio=1.5, max_candidates=1000,
                                 text_repr_type='quad', score_mode='fast', use_dilation=False, min_box_size=3)

    train = cfg.train_dataloader.to_dict()
    assert (train['batch_size'], train['num_workers'], train['drop_last'], train['sampler']['shuffle']) == \
        (16, 8, False, True)
    ds = train['dataset']
    assert (ds['type'], ds['data_dir'], ds['label_file_list'], ds['ratio_list']) == \
        ('PaddleOCRDetDataset', './train_data/icdar2015/text_localization/',
         ['./train_data/icdar2015/text_localization/train_icdar2015_label.txt'], [1.0])
    assert ds['pipeline'] == [
        dict(type='LoadImageFromFile'),
        dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomRotate', max_angle=10.0),
        dict(type='RandomScale', ratio_range=(0.5, 3.0)),
        dict(type='TextDetRandomCrop', max_tries=50, min_crop_side_ratio=0.1, target_size=(640, 640)),
        dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape')),
        dict(type='GenerateDBTargets', codec=head['codec'])]  # MakeBorderMap / MakeShrinkMap: maps in the workers
    val = cfg.val_dataloader.to_dict()
    assert val['batch_size'] == 1 and not val['sampler']['shuffle'] and val['dataset']['test_mode']
    assert [s['type'] for s in val['dataset']['pipeline']] == ['LoadImageFromFile', 'DetResizeForTest',
                                                                'LoadOCRAnnotations', 'PackTextDetInputs']
    assert val['dataset']['pipeline'][1] == dict(type='DetResizeForTest', image_shape=(736, 1280), keep_ratio=False)
    assert cfg.test_dataloader.to_dict() == val
    assert cfg.val_evaluator.to_dict() == dict(type='HmeanIOUMetric', match_iou_thr=0.5, pred_score_thrs=[0.0])

    assert cfg.optim_wrapper.to_dict() == dict(type='OptimWrapper', optimizer=dict(
        type='Adam', lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0))
    assert cfg.param_scheduler == []  # lr without a name: constant
    assert cfg.train_cfg.to_dict() == dict(by_epoch=True, max_epochs=1200, val_begin=1201, val_interval=1)
    hooks = cfg.default_hooks.to_dict()
    assert hooks['logger'] == dict(type='LoggerHook', interval=10)
    assert hooks['checkpoint'] == dict(type='CheckpointHook', interval=1200, save_last=True,
                                       filename_tmpl='iter_epoch_{}.pth', save_best='icdar/hmean', rule='greater')
    assert [h.to_dict() for h in cfg.custom_hooks] == [
        dict(type='ValEveryNItersHook', begin=0, interval=2000)]
    assert cfg.work_dir == './output/db_mv3/' and cfg.load_from is None and cfg.resume is False
    assert cfg.randomness.seed == 1024
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend']
    assert cfg.paddleocr.save_res_path == './output/det_db/predicts_db.txt' and cfg.paddleocr.use_gpu is True

    built = MODELS.build(model)  # PaddleOCR's x0.5 widths reach the neck and the head
    assert built.neck.in_channels == [16, 24, 56, 480]
    assert built.det_head.codec.min_text_size == 8 and built.det_head.codec.box_thresh == 0.6


def test_det_r50_vd_db_builds_resnet_v1d_and_its_post_process():
    cfg = load_paddleocr_config(R50)
    assert cfg.model.backbone.to_dict() == dict(type='PPResNetVd', layers=50, in_channels=3, out_indices=(0, 1, 2, 3))
    assert cfg.model.det_head.codec.box_thresh == 0.7 and cfg.work_dir == './output/det_r50_vd/'
    # ResNet_vd dcn_stage -> DCNv2 (PaddleOCR's 2 offset groups) in the flagged stages; plain ResNet: 1 group
    cfg = load_paddleocr_config(R50, {'+Architecture.Backbone.dcn_stage': [False, True, True, True]})
    assert cfg.model.backbone.dcn.to_dict() == dict(type='DCNv2', deform_groups=2)
    assert cfg.model.backbone.stage_with_dcn == (False, True, True, True)
    cfg = load_paddleocr_config(R50, {'Architecture.Backbone.name': 'ResNet', 'Architecture.Backbone.layers': 18})
    assert cfg.model.backbone.type == 'ResNet' and cfg.model.backbone.depth == 18


def test_strict_overrides_name_file_key_and_closest_keys():
    with pytest.raises(ConfigError) as e:
        load_paddleocr_config(MV3, {'Global.epoch_nums': 3})
    assert 'det_mv3_db.yml' in str(e.value) and "'Global.epoch_nums'" in str(e.value)
    assert 'Global.epoch_num' in str(e.value)  # closest existing key
    with pytest.raises(ConfigError, match='PostProcess.box_thresh'):
        load_paddleocr_config(MV3, {'PostProcess.box_thres': 0.5})
    with pytest.raises(ConfigError, match='learning_rate'):
        load_paddleocr_config(MV3, {'Optimizer.lr': 0.1})  # a mapping is never replaced by a number
    with pytest.raises(ConfigError, match='not an index'):
        load_paddleocr_config(MV3, {'Train.dataset.transforms.99.EastRandomCropData.size': [32, 32]})
    # list items by index, a '+' creates a key (then translation checks it)
    cfg = load_paddleocr_config(MV3, {'Train.dataset.transforms.3.EastRandomCropData.size': [320, 256],
                                      'Train.loader.batch_size_per_card': 4, 'Global.epoch_num': 7})
    assert cfg.train_dataloader.dataset.pipeline[5]['target_size'] == (320, 256)
    assert cfg.train_dataloader.batch_size == 4 and cfg.train_cfg.max_epochs == 7
    with pytest.raises(ConfigError, match=r'PostProcess\.bogus: unknown key'):
        load_paddleocr_config(MV3, {'+PostProcess.bogus': 1})


def test_documented_global_keys_are_accepted_when_the_yaml_omits_them():
    data = load_paddleocr_yaml(MV3)
    assert 'use_amp' not in data['Global'] and 'seed' not in data['Global']
    cfg = translate_paddleocr(apply_paddleocr_overrides(data, {'Global.use_amp': True, 'Global.seed': 7}), str(MV3))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.randomness.seed == 7
    with pytest.raises(ConfigError, match='Global.use_xpu'):
        load_paddleocr_config(MV3, {'Global.use_xpu': True})


def test_unknown_keys_in_the_yaml_itself_are_errors(tmp_path):
    bad = _variant(tmp_path, lambda d: d['Optimizer'].update(beta_1=0.9))
    with pytest.raises(ConfigError, match=r'variant\.yml: Optimizer\.beta_1: unknown key.*closest: beta1'):
        load_paddleocr_config(bad)
    bad = _variant(tmp_path, lambda d: d['Train']['dataset']['transforms'].insert(2, {'CopyPaste': None}))
    with pytest.raises(ConfigError, match="transform 'CopyPaste' is not supported"):
        load_paddleocr_config(bad)
    bad = _variant(tmp_path, lambda d: d['Architecture']['Neck'].update(name='DBFPN', bogus=1))
    with pytest.raises(ConfigError, match='Architecture.Neck.bogus'):
        load_paddleocr_config(bad)
    with pytest.raises(ConfigError, match=r'Architecture\.Backbone\.scale: must be one of 0\.35'):
        load_paddleocr_config(MV3, {'Architecture.Backbone.scale': 0.4})
    with pytest.raises(ConfigError, match="model_type.*'rec_x' has no translator.*det"):
        load_paddleocr_config(MV3, {'Architecture.model_type': 'rec_x'})
    with pytest.raises(ConfigError, match=r"Train\.dataset\.name: 'LMDBDataSet' is not supported.*SimpleDataSet"):
        load_paddleocr_config(MV3, {'Train.dataset.name': 'LMDBDataSet'})
    with pytest.raises(ConfigError, match='delimiter'):
        load_paddleocr_config(MV3, {'+Train.dataset.delimiter': ' '})
    with pytest.raises(ConfigError, match='shrink_ratio'):
        load_paddleocr_config(MV3, {'Train.dataset.transforms.5.MakeShrinkMap.shrink_ratio': 0.5})


def test_unknown_backbone_neck_head_names_pass_through(tmp_path):
    cfg = load_paddleocr_config(MV3, {'Architecture.Backbone': {'name': 'MyBackbone', 'width': 3}})
    assert cfg.model.backbone.to_dict() == dict(type='MyBackbone', width=3)  # -o replaces the mapping
    cfg = load_paddleocr_config(MV3, {'Architecture.Neck.name': 'RSEFPN'})
    assert cfg.model.neck.to_dict() == dict(type='RSEFPN', out_channels=256)


def test_base_lr_alias_and_lr_schedules_follow_paddleocr():
    cfg = load_paddleocr_config(MV3, {'Optimizer.base_lr': 0.0001})
    assert cfg.optim_wrapper.optimizer.lr == 0.0001
    cfg = load_paddleocr_config(MV3, {'Optimizer.lr': {'name': 'Cosine', 'learning_rate': 0.01, 'warmup_epoch': 2},
                                      'Global.epoch_num': 5, 'Optimizer.regularizer.factor': 5e-5})
    assert cfg.optim_wrapper.optimizer.weight_decay == 5e-5

    # the lr at every iteration equals PaddleOCR's LinearWarmup(0 -> lr over W steps) + CosineAnnealingDecay
    # (T_max = epochs * steps, starting when the warm-up ends)
    steps, epochs, base = 3, 5, 0.01
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    scheds = build_param_schedulers([dict(s) for s in cfg.param_scheduler], opt, epoch_length=steps,
                                    max_epochs=epochs, max_iters=epochs * steps)

    def lr_at(t):
        return base * math.prod(s.factor(t, base) for s in scheds)

    warm = 2 * steps
    for t in range(epochs * steps):
        ref = base * t / warm if t < warm else base * (1 + math.cos(math.pi * (t - warm) / (epochs * steps))) / 2
        assert lr_at(t) == pytest.approx(ref, abs=1e-12), t

    cfg = load_paddleocr_config(MV3, {'Optimizer.lr': {'name': 'Piecewise', 'decay_epochs': [2, 4],
                                                       'values': [0.1, 0.01, 0.001]}, 'Global.epoch_num': 5})
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheds = build_param_schedulers([dict(s) for s in cfg.param_scheduler], opt, epoch_length=steps,
                                    max_epochs=5, max_iters=5 * steps)
    got = [0.1 * math.prod(s.factor(t, 0.1) for s in scheds) for t in range(5 * steps)]
    ref = [0.1 if t < 2 * steps else 0.01 if t < 4 * steps else 0.001 for t in range(5 * steps)]
    assert got == pytest.approx(ref)

    with pytest.raises(ConfigError, match='warmup_epoch'):
        load_paddleocr_config(MV3, {'Optimizer.lr': {'name': 'Cosine', 'learning_rate': 0.1, 'warmup_epoch': 0.5}})
    with pytest.raises(ConfigError, match="'OneCycle' is not supported"):
        load_paddleocr_config(MV3, {'Optimizer.lr': {'name': 'OneCycle', 'learning_rate': 0.1}})


def test_optimizers_amp_and_global_switches(tmp_path):
    momentum = _variant(tmp_path, lambda d: d.update(Optimizer=dict(
        name='Momentum', momentum=0.9, clip_norm_global=5.0, lr=dict(learning_rate=0.02),
        regularizer=dict(name='L2', factor=1e-4))))
    cfg = load_paddleocr_config(momentum)
    assert cfg.optim_wrapper.to_dict() == dict(type='OptimWrapper', clip_grad=dict(max_norm=5.0), optimizer=dict(
        type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
    with pytest.raises(ConfigError, match=r'Optimizer\.beta1: unknown key'):
        load_paddleocr_config(MV3, {'Optimizer.name': 'Momentum'})  # Adam's beta1 means nothing to Momentum

    cfg = load_paddleocr_config(MV3, {'Global.use_amp': True, 'Global.scale_loss': 1024.0,
                                      'Global.use_dynamic_loss_scaling': False, 'Global.amp_dtype': 'bfloat16'})
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale, cfg.optim_wrapper.dtype) == \
        ('AmpOptimWrapper', 1024.0, 'bfloat16')
    cfg = load_paddleocr_config(MV3, {'Global.use_amp': True, 'Global.scale_loss': 512.0,
                                      'Global.use_dynamic_loss_scaling': True})
    assert cfg.optim_wrapper.loss_scale.to_dict() == dict(init_scale=512.0)

    cfg = load_paddleocr_config(MV3, {'Global.use_visualdl': True, 'Global.use_gpu': False,
                                      'Global.eval_batch_step': 500, 'Global.print_batch_step': 3})
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.paddleocr.use_gpu is False and cfg.default_hooks.logger.interval == 3
    assert cfg.custom_hooks[0].to_dict()['begin'] == 0 and cfg.custom_hooks[0].to_dict()['interval'] == 500

    rgb = load_paddleocr_config(MV3, {'Train.dataset.transforms.0.DecodeImage.img_mode': 'RGB',
                                      'Eval.dataset.transforms.0.DecodeImage.img_mode': 'RGB'})
    assert rgb.model.data_preprocessor.bgr_to_rgb is True
    with pytest.raises(ConfigError, match='differ between Train'):
        load_paddleocr_config(MV3, {'Train.dataset.transforms.0.DecodeImage.img_mode': 'RGB'})


def test_checkpoints_win_over_pretrained_model(tmp_path):
    for name in ('pre.pth', 'ckpt.pth', 'iter_epoch_3.pth'):
        torch.save({'state_dict': {}}, tmp_path / name)
    pre, ckpt = str(tmp_path / 'pre'), str(tmp_path / 'ckpt.pth')
    cfg = load_paddleocr_config(MV3, {'Global.pretrained_model': pre})  # the extension may be left out
    assert (cfg.load_from, cfg.resume) == (pre + '.pth', False)
    assert cfg.paddleocr.pretrained_model == pre + '.pth' and cfg.paddleocr.checkpoints is None
    cfg = load_paddleocr_config(MV3, {'Global.pretrained_model': pre, 'Global.checkpoints': ckpt})
    assert (cfg.load_from, cfg.resume) == (ckpt, True) and cfg.paddleocr.pretrained_model is None
    # a stale pretrained_model does not matter when checkpoints is set
    cfg = load_paddleocr_config(MV3, {'Global.pretrained_model': str(tmp_path / 'gone'), 'Global.checkpoints': ckpt})
    assert cfg.load_from == ckpt
    # PaddleOCR's 'latest' is the last_checkpoint pointer of the work dir
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_epoch_3.pth'))
    cfg = load_paddleocr_config(MV3, {'Global.checkpoints': str(tmp_path / 'latest')})
    assert cfg.load_from == str(tmp_path / 'iter_epoch_3.pth')
    # a path that names no file is an error when it is loaded, not here (tests/config/test_paddleocr_dropin.py)
    assert load_paddleocr_config(MV3, {'Global.pretrained_model': str(tmp_path / 'gone')}).load_from == \
        str(tmp_path / 'gone')
    # torchvision weights go to the backbone
    cfg = load_paddleocr_config(MV3, {'Global.pretrained_model': 'torchvision://mobilenet_v3_large',
                                      'Architecture.Backbone.scale': 1.0})
    assert cfg.load_from is None
    assert cfg.model.backbone.init_cfg.to_dict() == dict(type='Pretrained',
                                                         checkpoint='torchvision://mobilenet_v3_large')



def test_a_wrong_checkpoints_path_falls_back_to_pretrained_model(tmp_path, caplog):
    """PaddleOCR's guide: 'If the model path specified by Global.checkpoints is wrong, the one specified by
    Global.pretrained_model will be loaded.'"""
    torch.save({'state_dict': {}}, tmp_path / 'pre.pth')
    wrong = str(tmp_path / 'no' / 'such' / 'model')
    with caplog.at_level('WARNING', logger='visioncraft'):
        cfg = load_paddleocr_config(MV3, {'Global.pretrained_model': str(tmp_path / 'pre'),
                                          'Global.checkpoints': wrong})
    assert (cfg.load_from, cfg.resume) == (str(tmp_path / 'pre.pth'), False)
    assert cfg.paddleocr.checkpoints is None
    assert f"Global.checkpoints='{wrong}'" in caplog.text and 'loading Global.pretrained_model=' in caplog.text
    cfg = load_paddleocr_config(MV3, {'Global.checkpoints': wrong})  # nothing to fall back to: fails when loaded
    assert (cfg.load_from, cfg.resume) == (wrong, True)

def test_read_config_with_use_gpu_false_hides_the_gpus(monkeypatch):
    from visioncraft.cli.common import read_config
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0')
    if torch.cuda.is_initialized():  # pragma: no cover  (CUDA already in use: the function only warns)
        pytest.skip('CUDA is initialised in this process')
    read_config(str(MV3))  # the file's use_gpu: true leaves the GPUs alone (and is no error without one)
    assert os.environ['CUDA_VISIBLE_DEVICES'] == '0'
    read_config(str(MV3), {'Global.use_gpu': False})
    assert os.environ['CUDA_VISIBLE_DEVICES'] == ''


def test_a_dotted_backbone_name_is_imported_from_the_working_directory(tmp_path, monkeypatch):
    pkg = tmp_path / 'paddle_yaml_user_pkg'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    (pkg / 'bb.py').write_text(
        'from torch import nn\n'
        'from visioncraft.models.backbones.base import BackboneBase\n\n\n'
        'class DottedBackbone(BackboneBase):  # not registered: named by its import path\n'
        '    def __init__(self, width=8):\n'
        '        super().__init__()\n'
        '        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else width, width, 3, 4 if i == 0 else 2, 1)\n'
        '                                   for i in range(4))\n'
        '        self.out_channels, self.strides = [width] * 4, [4, 8, 16, 32]\n\n'
        '    def forward(self, x):\n'
        '        outs = []\n'
        '        for conv in self.convs:\n'
        '            x = conv(x)\n'
        '            outs.append(x)\n'
        '        return tuple(outs)\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr('sys.path', [p for p in __import__('sys').path if p not in ('', str(tmp_path))])
    cfg = load_paddleocr_config(MV3, {'Architecture.Backbone': {'name': 'paddle_yaml_user_pkg.bb.DottedBackbone',
                                                                'width': 8}})
    model = MODELS.build(cfg.model.to_dict())
    assert type(model.backbone).__name__ == 'DottedBackbone' and model.neck.in_channels == [8, 8, 8, 8]
    with pytest.raises(ConfigError, match=r'Architecture\.Backbone\.name.*no_such_pkg'):
        load_paddleocr_config(MV3, {'Architecture.Backbone': {'name': 'no_such_pkg.Net'}})


def test_translators_are_registered_and_a_second_one_for_a_model_type_is_an_error():
    assert paddleocr_translators()['det'] is PADDLE_TRANSLATORS.get('det')
    with pytest.raises(RegistryError, match="'det' is already taken"):
        register_paddleocr_translator('det')(type('OtherDetTranslator', (PaddleOCRTaskTranslator,), {}))
    assert paddleocr_translators()['det'].__name__ == 'PaddleOCRDetTranslator'


def test_overrides_replace_a_mapping_as_paddleocr_or_merge_into_it():
    data = load_paddleocr_yaml(MV3)
    options = {'Architecture.Backbone': {'name': 'MyBackbone'}}
    assert apply_paddleocr_overrides(data, options)['Architecture']['Backbone'] == {'name': 'MyBackbone'}
    merged = apply_paddleocr_overrides(data, options, replace=False)['Architecture']['Backbone']
    assert merged == dict(data['Architecture']['Backbone'], name='MyBackbone')
