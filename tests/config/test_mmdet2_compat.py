"""MMDetection 2.x configs (``data=``, ``evaluation=``, ``optimizer=``, ``lr_config=``, ``runner=``, ...) are translated
as they load (visioncraft/config/compat/mmdet2.py): the translation, its errors, the pipelines' model input, a short
train + evaluation + test through the command line, ``model.show_result`` and ``show_result_pyplot``."""
from __future__ import annotations

import io
import logging
import pprint
from contextlib import redirect_stderr, redirect_stdout

import cv2
import numpy as np
import pytest
import torch

from conftest import log_text, tiny_det_model, tiny_faster_rcnn, train_losses, visioncraft_warnings
from visioncraft.config import Config, ConfigError
from visioncraft.config.compat.mmdet2 import is_mmdet2_config, translate_pipeline
from visioncraft.data.collate import pseudo_collate
from visioncraft.data.synthetic.det_shapes import DET_SHAPE_CLASSES, generate_det_shapes
from visioncraft.errors import run_entry_point
from visioncraft.registry import DATASETS, MODELS, TRANSFORMS, default_scope
from visioncraft.structures import DataSample, InstanceData

NORM = dict(mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0], to_rgb=True)
SCALE = (96, 80)  # (w, h): a 64 x 64 picture becomes 80 x 80, padded to 96 x 96


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    """A tiny COCO-format detection set: 4 + 2 pictures of 64 x 64 pixels (annotations/instances_{train,val}.json)."""
    return generate_det_shapes(tmp_path_factory.mktemp('mmdet2') / 'shapes', num_train=4, num_val=2,
                               image_size=(64, 64), max_objects=2, object_size=(14, 30), seed=5)


def train_pipeline_2x() -> list[dict]:
    return [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', img_scale=SCALE, keep_ratio=True), dict(type='RandomFlip', flip_ratio=0.5),
            dict(type='Normalize', **NORM), dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
            dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])]


def msfa_pipeline_2x(flip=False, img_scale=SCALE) -> list[dict]:
    inner = [dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', **NORM),
             dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']),
             dict(type='Collect', keys=['img'])]
    return [dict(type='LoadImageFromFile'),
            dict(type='MultiScaleFlipAug', img_scale=img_scale, flip=flip, transforms=inner)]


def retinanet_2x(root, **over) -> dict:
    """An MMDetection 2.x RetinaNet config (the tiny model of conftest) on the shapes set, written as 2.x did."""
    model = tiny_det_model(len(DET_SHAPE_CLASSES))
    del model['data_preprocessor']  # 2.x had none: Normalize and Pad said it
    model['train_cfg'] = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0))
    model['test_cfg'] = dict(model['test_cfg'], score_thr=0.0)

    def ds(split, pipeline, **extra):
        return dict(type='CocoDataset', classes=DET_SHAPE_CLASSES, ann_file=f'{root}/annotations/instances_{split}.json',
                    img_prefix=f'{root}/', pipeline=pipeline, **extra)

    cfg = dict(
        model=model,
        data=dict(samples_per_gpu=2, workers_per_gpu=0,
                  train=ds('train', train_pipeline_2x()),
                  val=ds('val', msfa_pipeline_2x(), samples_per_gpu=2),
                  test=ds('val', msfa_pipeline_2x())),
        evaluation=dict(interval=1, metric='bbox', save_best='auto'),
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
        optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
        lr_config=dict(policy='step', warmup='linear', warmup_iters=2, warmup_ratio=0.001, step=[1]),
        runner=dict(type='EpochBasedRunner', max_epochs=1),
        checkpoint_config=dict(interval=1, max_keep_ckpts=2),
        log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook')]),
        custom_hooks=[dict(type='NumClassCheckHook')],
        dist_params=dict(backend='nccl'),
        log_level='INFO', load_from=None, resume_from=None, workflow=[('train', 1)],
        opencv_num_threads=0, mp_start_method='fork', seed=3,
    )
    cfg.update(over)
    return cfg


def write(path, cfg: dict):
    """``cfg`` as a Python config file, each top-level key a ``key = value`` line (as 2.x files read)."""
    path.write_text(''.join(f'{k} = {pprint.pformat(v, width=110)}\n' for k, v in cfg.items()))
    return path


def test_retinanet_2x_config_translates_to_the_3x_fields(shapes, tmp_path):
    path = write(tmp_path / 'retina_2x.py', retinanet_2x(shapes))
    assert is_mmdet2_config(Config.fromfile(path, translate=False))
    cfg = Config.fromfile(path)
    root = str(shapes)
    classes = dict(classes=DET_SHAPE_CLASSES)
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=SCALE, keep_ratio=True),
                     dict(type='PackDetInputs')]
    val_set = dict(type='CocoDataset', metainfo=classes, ann_file=f'{root}/annotations/instances_val.json',
                   data_prefix=dict(img=f'{root}/'), pipeline=test_pipeline, test_mode=True)
    expected = dict(
        train_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=dict(type='CocoDataset', metainfo=classes,
                                           ann_file=f'{root}/annotations/instances_train.json',
                                           data_prefix=dict(img=f'{root}/'),
                                           filter_cfg=dict(filter_empty_gt=True, min_size=32),
                                           pipeline=[dict(type='LoadImageFromFile'),
                                                     dict(type='LoadAnnotations', with_bbox=True),
                                                     dict(type='Resize', scale=SCALE, keep_ratio=True),
                                                     dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                                                     dict(type='PackDetInputs')])),
        val_dataloader=dict(batch_size=2, num_workers=0, drop_last=False,
                            sampler=dict(type='DefaultSampler', shuffle=False), dataset=val_set),
        test_dataloader=dict(batch_size=1, num_workers=0, drop_last=False,  # 2.x's test batch: 1 unless said
                             sampler=dict(type='DefaultSampler', shuffle=False), dataset=val_set),
        val_evaluator=dict(type='CocoMetric', ann_file=f'{root}/annotations/instances_val.json', metric='bbox'),
        test_evaluator=dict(type='CocoMetric', ann_file=f'{root}/annotations/instances_val.json', metric='bbox'),
        train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1), val_cfg=dict(), test_cfg=dict(),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
                           clip_grad=dict(max_norm=35, norm_type=2)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2),
                         dict(type='MultiStepLR', milestones=[1], gamma=0.1, by_epoch=True, begin=0)],
        default_hooks=dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
                           param_scheduler=dict(type='ParamSchedulerHook'),
                           checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, by_epoch=True,
                                           save_best='auto'),
                           sampler_seed=dict(type='DistSamplerSeedHook'),
                           visualization=dict(type='VisualizationHook', draw=False)),
        custom_hooks=[],  # NumClassCheckHook: the heads check their labels themselves
        visualizer=dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')]),
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                     dist_cfg=dict(backend=None)),
        load_from=None, resume=False, randomness=dict(seed=3), log_level='INFO',
        mmdet2=dict(file=str(path), unused=[]),
    )
    for key, value in expected.items():
        assert cfg.to_dict()[key] == value, key
    assert cfg.model.data_preprocessor.to_dict() == dict(type='DetDataPreprocessor', mean=NORM['mean'],
                                                         std=NORM['std'], bgr_to_rgb=True, pad_size_divisor=32)
    gone = ('data', 'evaluation', 'optimizer', 'optimizer_config', 'lr_config', 'runner', 'checkpoint_config',
            'log_config', 'dist_params', 'workflow', 'resume_from', 'seed', 'opencv_num_threads', 'mp_start_method')
    assert not set(gone) & set(cfg)
    MODELS.build(cfg.model.to_dict())  # the model builds from the translation
    # the 2.x guide's batch-size override, on a key the file does not set; 3.x keys apply to the translation
    cfg = Config.fromfile(path, {'data.test.samples_per_gpu': 4, 'evaluation.interval': 2,
                                 'train_cfg.max_epochs': 3, 'resume_from': 'w/epoch_1.pth'})
    assert cfg.test_dataloader.batch_size == 4 and cfg.val_dataloader.batch_size == 2
    assert cfg.train_cfg.to_dict() == dict(by_epoch=True, max_epochs=3, val_interval=2)
    assert (cfg.resume, cfg.load_from) == (True, 'w/epoch_1.pth')
    with pytest.raises(ConfigError, match=r"'evaluation\.intervall'.*interval"):
        Config.fromfile(path, {'evaluation.intervall': 2})  # a typo in a 2.x block: the block's keys are named


def test_faster_rcnn_2x_config_of_mmdetection_before_2_12(tmp_path):
    """Top-level train_cfg / test_cfg, ``pretrained=``, the old RPN proposal keys, an iteration-based runner, cosine
    schedule with constant warm-up, fp16, gradient accumulation, TensorBoard logging and a VOC-style set."""
    model = tiny_faster_rcnn()
    del model['data_preprocessor']
    train_cfg, test_cfg = model.pop('train_cfg'), model.pop('test_cfg')
    train_cfg['rpn_proposal'] = dict(nms_across_levels=False, nms_pre=200, nms_post=100, max_num=100, nms_thr=0.7,
                                     min_bbox_size=0)
    model['pretrained'] = 'torchvision://resnet18'
    voc = dict(type='VOCDataset', ann_file='VOC2007/ImageSets/Main/test.txt', img_prefix='VOC2007/',
               pipeline=msfa_pipeline_2x())
    src = dict(
        model=model, train_cfg=train_cfg, test_cfg=test_cfg,
        data=dict(samples_per_gpu=2, workers_per_gpu=2, persistent_workers=True,
                  train=dict(type='VOCDataset', ann_file=['VOC2007/trainval.txt', 'VOC2012/trainval.txt'],
                             img_prefix=['VOC2007/', 'VOC2012/'], pipeline=train_pipeline_2x()),
                  val=voc, test=voc),
        evaluation=dict(interval=100, metric='mAP', save_best='mAP'),
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001,
                       paramwise_cfg=dict(norm_decay_mult=0.0)),
        optimizer_config=dict(type='GradientCumulativeFp16OptimizerHook', cumulative_iters=2, loss_scale=512.0),
        lr_config=dict(policy='CosineAnnealing', by_epoch=False, warmup='constant', warmup_iters=50,
                       warmup_ratio=0.1, min_lr_ratio=0.01),
        runner=dict(type='IterBasedRunner', max_iters=400),
        checkpoint_config=dict(interval=100, by_epoch=False, create_symlink=True),
        log_config=dict(interval=10, hooks=[dict(type='TextLoggerHook', by_epoch=False),
                                            dict(type='TensorboardLoggerHook')]),
        gpu_ids=range(0, 1), device='cuda',  # written by 2.x's tools/train.py into the configs it saved
    )
    cfg = Config.fromfile(write(tmp_path / 'faster_2x.py', src))
    assert cfg.model.train_cfg.rpn_proposal.to_dict() == dict(nms_pre=200, max_per_img=100, min_bbox_size=0,
                                                              nms=dict(type='nms', iou_threshold=0.7))
    assert cfg.model.test_cfg.to_dict() == test_cfg
    assert cfg.model.backbone.init_cfg.to_dict() == dict(type='Pretrained', checkpoint='torchvision://resnet18')
    assert 'pretrained' not in cfg.model and 'train_cfg' in cfg.model
    assert cfg.train_cfg.to_dict() == dict(by_epoch=False, max_iters=400, val_interval=100)
    assert cfg.param_scheduler == [dict(type='ConstantLR', factor=0.1, by_epoch=False, begin=0, end=50),
                                   dict(type='CosineAnnealingLR', by_epoch=False, begin=0, eta_min_ratio=0.01)]
    assert cfg.optim_wrapper.to_dict() == dict(
        type='AmpOptimWrapper', loss_scale=512.0, accumulative_counts=2, paramwise_cfg=dict(norm_decay_mult=0.0),
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
    assert cfg.default_hooks.checkpoint.to_dict() == dict(type='CheckpointHook', interval=100, by_epoch=False,
                                                          save_best='pascal_voc/mAP')
    assert cfg.default_hooks.logger.interval == 10
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend', 'TensorboardVisBackend']
    train = cfg.train_dataloader.to_dict()
    assert (train['batch_size'], train['num_workers'], train['persistent_workers']) == (2, 2, True)
    assert train['dataset']['type'] == 'ConcatDataset'  # a list of ann_file, as 2.x built it
    assert [d['data_prefix'] for d in train['dataset']['datasets']] == [dict(sub_data_root='VOC2007/'),
                                                                        dict(sub_data_root='VOC2012/')]
    assert cfg.val_evaluator.to_dict() == dict(type='VOCMetric', metric='mAP', eval_mode='11points')
    assert cfg.val_dataloader.dataset.data_prefix.to_dict() == dict(sub_data_root='VOC2007/')
    assert cfg.mmdet2.unused == ['gpu_ids', 'device']
    model = MODELS.build(cfg.model.to_dict())  # nothing downloaded: init_weights is not called
    assert type(model).__name__ == 'FasterRCNN'


def _error(tmp_path, cfg: dict, name='bad.py') -> str:
    path = write(tmp_path / name, cfg)
    with pytest.raises(ConfigError) as exc:
        Config.fromfile(path)
    msg = str(exc.value)
    assert '\n' not in msg and msg.startswith(f'{path}: '), msg
    return msg


@pytest.mark.parametrize('change, expected', [
    (dict(evaluation=dict(interval=1, metric='bbox', efficient_test=True)), 'evaluation.efficient_test: not an MMDet'),
    (dict(data={'samples_per_gpu': 2, 'train_batch': 1}), 'data.train_batch: not an MMDetection 2.x data key'),
    (dict(lr_config=dict(policy='CosineRestart', periods=[1])), "lr_config.policy: 'CosineRestart' is not translated"),
    (dict(lr_config=dict(policy='step', step=[1], warmup='exp', warmup_iters=2)), "lr_config.warmup: 'exp'"),
    (dict(runner=dict(type='EpochBasedRunnerAmp', max_epochs=1)), 'runner.type'),
    (dict(workflow=[('train', 1), ('val', 1)]), 'workflow: '),
    (dict(momentum_config=dict(policy='cyclic')), 'momentum_config: momentum schedules'),
    (dict(log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook'), dict(type='WandbLoggerHook')])),
     'log_config.hooks.1.type'),
    (dict(evaluation=dict(metric='proposal_fast')), "'proposal_fast' is not translated (use 'proposal')"),
])
def test_what_the_translation_cannot_map_is_a_one_line_error(shapes, tmp_path, change, expected):
    assert expected in _error(tmp_path, retinanet_2x(shapes, **change))


@pytest.mark.parametrize('where, transform, expected', [
    ('test', dict(type='MultiScaleFlipAug', img_scale=SCALE, flip=True, transforms=[]),
     'data.test.pipeline.1.flip: flip=True is test-time augmentation'),
    ('test', dict(type='MultiScaleFlipAug', img_scale=[(96, 80), (64, 48)], flip=False, transforms=[]),
     'data.test.pipeline.1.img_scale: [(96, 80), (64, 48)]: several scales are test-time augmentation'),
    ('train', dict(type='LoadImageFromFile', channel_order='rgb'), 'data.train.pipeline.1.channel_order'),
    ('train', dict(type='LoadAnnotations', with_bbox=True, with_seg=True), 'data.train.pipeline.1.with_seg'),
])
def test_pipeline_errors_name_the_transform(shapes, tmp_path, where, transform, expected):
    cfg = retinanet_2x(shapes)
    cfg['data'][where]['pipeline'][1] = transform
    assert expected in _error(tmp_path, cfg)


def test_normalisation_must_be_one_and_last(shapes, tmp_path):
    cfg = retinanet_2x(shapes)
    cfg['data']['test']['pipeline'][1]['transforms'][2] = dict(type='Normalize', mean=[0, 0, 0], std=[1, 1, 1])
    msg = _error(tmp_path, cfg)
    assert "data.test.pipeline: normalises / pads as mean=[0.0, 0.0, 0.0]" in msg and 'data.train.pipeline' in msg
    cfg = retinanet_2x(shapes)
    pipeline = cfg['data']['train']['pipeline']
    pipeline.insert(2, pipeline.pop(4))  # Normalize before Resize: it cannot move after the resize
    assert 'data.train.pipeline.3: Resize comes after Normalize (data.train.pipeline.2)' in _error(tmp_path, cfg)


def test_the_cli_prints_the_translation_and_one_error_line(shapes, tmp_path):
    from visioncraft.cli.main import main as vc_main
    path = write(tmp_path / 'retina_2x.py', retinanet_2x(shapes))
    out = io.StringIO()
    with redirect_stdout(out):
        vc_main(['config', str(path), '--cfg-options', 'data.samples_per_gpu=3'])
    printed = Config.fromstring(out.getvalue(), 'py')
    assert printed.train_dataloader.batch_size == 3 and 'data' not in printed and 'mmdet2' in printed
    bad = write(tmp_path / 'bad.py', retinanet_2x(shapes, optimizer_config=dict(grad_clip=None, coalesce=True,
                                                                                 bogus=1)))
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as exc:
        run_entry_point(vc_main, ['train', str(bad), '--work-dir', str(tmp_path / 'wd')])
    lines = err.getvalue().strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1 and lines[0].startswith(f'error: {bad}: optimizer_config.bogus')


def test_mmpose_and_mmocr_0x_layouts_are_not_taken_for_mmdetection():
    assert not is_mmdet2_config(dict(model=dict(type='TopDown'), data=dict(samples_per_gpu=2)))
    assert not is_mmdet2_config(dict(model=dict(type='DBNet'), evaluation=dict(interval=1)))
    assert not is_mmdet2_config(dict(model=dict(type='RetinaNet'), optimizer=dict(type='SGD'),
                                     train_dataloader=dict()))  # mixed layouts: the Runner names the 2.x keys
    assert is_mmdet2_config(dict(model=dict(type='RetinaNet'), optimizer=dict(type='SGD'),
                                 train_cfg=dict(assigner=dict(type='MaxIoUAssigner'))))  # 2.x < 2.12 train_cfg


def _batch_inputs(dataset_cfg, preprocessor_cfg, n, seed=0):
    """The model input tensors of the first ``n`` samples, each drawn under NumPy seed ``seed + i``."""
    dataset = DATASETS.build(dataset_cfg)
    preprocessor = MODELS.build(preprocessor_cfg)
    samples = []
    for i in range(n):
        np.random.seed(seed + i)
        samples.append(dataset.pipeline(dataset.get_data_info(i)))
    return preprocessor(pseudo_collate(samples), training=True)['inputs'], samples


def test_the_2x_pipelines_give_the_model_the_input_the_3x_ones_do(shapes, tmp_path):
    cfg = Config.fromfile(write(tmp_path / 'retina_2x.py', retinanet_2x(shapes)))
    translated = cfg.model.data_preprocessor.to_dict()
    by_hand = dict(type='DetDataPreprocessor', mean=NORM['mean'], std=NORM['std'], bgr_to_rgb=True,
                   pad_size_divisor=32)
    train_3x = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=SCALE, keep_ratio=True), dict(type='RandomFlip', prob=0.5),
                dict(type='PackDetInputs')]
    test_3x = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=SCALE, keep_ratio=True),
               dict(type='PackDetInputs')]
    for loader, pipeline_3x in (('train_dataloader', train_3x), ('test_dataloader', test_3x)):
        ds = cfg[loader].dataset.to_dict()
        ours, samples = _batch_inputs(ds, translated, 4 if loader == 'train_dataloader' else 2)
        theirs, _ = _batch_inputs(dict(ds, pipeline=pipeline_3x), by_hand, len(samples))
        assert ours.shape == theirs.shape and torch.equal(ours, theirs), loader
    # and that is MMDetection 2.x's arithmetic: rescale to fit (96, 80) keeping the ratio (64 -> 80), BGR -> RGB,
    # (x - mean) / std, zeros padded to a multiple of 32
    img = cv2.imread(samples[0]['data_samples'].img_path)
    img = cv2.resize(img, (80, 80), interpolation=cv2.INTER_LINEAR)[..., ::-1].astype(np.float32)
    expected = np.zeros((96, 96, 3), np.float32)
    expected[:80, :80] = (img - np.float32(127.5)) / np.float32(64.0)
    torch.testing.assert_close(ours[0], torch.from_numpy(expected.transpose(2, 0, 1)), rtol=0, atol=1e-6)
    steps, preprocessor = translate_pipeline(train_pipeline_2x())  # the same, for one pipeline on its own
    assert steps == train_3x[:3] + [dict(type='RandomFlip', prob=0.5, direction='horizontal'), train_3x[-1]]
    assert preprocessor == by_hand


def test_resize_and_flip_variants_translate_to_the_same_draws():
    steps, _ = translate_pipeline([
        dict(type='Resize', img_scale=[(1333, 640), (1333, 800)], multiscale_mode='range', keep_ratio=True),
        dict(type='Resize', img_scale=[(1333, 640), (1333, 800)], multiscale_mode='value', bbox_clip_border=False),
        dict(type='Resize', img_scale=(1333, 800), ratio_range=(0.8, 1.2), keep_ratio=False),
        dict(type='RandomFlip', flip_ratio=0.5, direction=['horizontal', 'vertical']),
        dict(type='RandomCrop', crop_size=(40, 60)), dict(type='Pad', size=(100, 120))])
    assert steps[:-1] == [
        dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
        dict(type='RandomChoiceResize', scales=[(1333, 640), (1333, 800)], keep_ratio=True, clip_object_border=False),
        dict(type='RandomResize', scale=(1333, 800), ratio_range=(0.8, 1.2), keep_ratio=False),
        dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),  # 2.x split the ratio
        dict(type='RandomCrop', crop_size=(60, 40)), dict(type='Pad', size=(120, 100))]  # (h, w) -> (w, h)
    for step in steps:
        TRANSFORMS.build(step)


def test_2x_transform_names_in_a_3x_pipeline_say_what_replaced_them():
    with default_scope('mmdet'), pytest.raises(ConfigError, match=r'Normalize is an MMDetection 2\.x transform.*'
                                                                  r'data_preprocessor'):
        TRANSFORMS.build(dict(type='Normalize', mean=[0, 0, 0], std=[1, 1, 1]))
    with pytest.raises(ConfigError, match="Collect is an MMDetection 2.x transform.*PackDetInputs"):
        TRANSFORMS.build(dict(type='mmdet.Collect', keys=['img']))


def test_trains_evaluates_and_tests_through_the_cli(shapes, tmp_path, monkeypatch):
    """`visioncraft train` on the 2.x config: two iterations and one evaluation; `test --show-dir vis` writes its
    pictures to ./vis, where the 2.x guide puts them."""
    from visioncraft.cli.main import main as vc_main
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / 'retina_2x.py', retinanet_2x(shapes))
    wd = tmp_path / 'wd'
    vc_main(['train', str(path), '--work-dir', str(wd)])
    losses = train_losses(wd)
    assert sorted(losses) == [1, 2] and all(np.isfinite(v) and v > 0 for v in losses.values())
    log = log_text(wd)
    assert f'{path}: an MMDetection 2.x config, translated to the MMEngine layout' in log
    assert 'coco/bbox_mAP' in log and (wd / 'epoch_1.pth').exists()
    assert next(wd.glob('best_coco_bbox_mAP_epoch_1.pth'), None) is not None  # evaluation.save_best='auto'
    metrics = vc_main(['test', str(path), str(wd / 'epoch_1.pth'), '--work-dir', str(wd), '--show-dir', 'vis',
                       '--eval', 'bbox'])
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    assert sorted(p.name for p in (tmp_path / 'vis').glob('*.png')) == ['00000.png', '00001.png']


def test_show_result_draws_on_the_image(tmp_path):
    from visioncraft.apis import set_random_seed, show_result_pyplot
    model = MODELS.build(tiny_det_model(4))
    model.dataset_meta = dict(classes=DET_SHAPE_CLASSES)
    img = np.full((60, 80, 3), 128, np.uint8)
    sample = DataSample(pred_instances=InstanceData(bboxes=torch.tensor([[10.0, 12.0, 50.0, 40.0], [1, 1, 5, 5]]),
                                                    scores=torch.tensor([0.9, 0.1]), labels=torch.tensor([1, 2])))
    out = tmp_path / 'out' / 'result.png'
    drawn = model.show_result(img, sample, score_thr=0.3, out_file=str(out))
    assert drawn.shape == img.shape and np.array_equal(cv2.imread(str(out)), drawn)
    assert tuple(drawn[25, 10]) == (0, 0, 255)  # the box's left edge, red in BGR
    assert tuple(drawn[3, 3]) == (128, 128, 128)  # the 0.1-score box is under score_thr
    # MMDetection 2.x's result: one (n, 5) array a class; green as 2.x's colour name
    legacy = [np.zeros((0, 5)), np.array([[10.0, 12.0, 50.0, 40.0, 0.9]]), np.zeros((0, 5)), np.zeros((0, 5))]
    assert tuple(model.show_result(img, legacy, bbox_color='green', show=False)[25, 10]) == (0, 255, 0)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    try:
        with visioncraft_warnings() as records:
            shown = show_result_pyplot(model, img, sample, score_thr=0.3)
    finally:
        monkeypatch.undo()
    assert np.array_equal(shown, drawn)
    assert any('no display' in r.getMessage() for r in records if r.levelno == logging.WARNING)
    assert set_random_seed(5) == 5


def test_strict_config_still_catches_a_misspelt_key_of_a_2x_config(shapes, tmp_path):
    from visioncraft.config.checks import top_level_key_report
    cfg = Config.fromfile(write(tmp_path / 'typo_2x.py', retinanet_2x(shapes, checkpoint_confg=dict(interval=2))))
    assert "did you mean 'checkpoint_config'" in top_level_key_report(cfg, cfg.filename)[0]
    with pytest.raises(ConfigError, match="'checkpoint_confg' \\(did you mean 'checkpoint_config'\\?\\)"):
        top_level_key_report(cfg, cfg.filename, strict=True)


def test_show_dir_goes_where_each_guide_says(shapes, tmp_path, monkeypatch):
    from visioncraft.cli.common import show_dir_path
    monkeypatch.chdir(tmp_path)
    translated = Config.fromfile(write(tmp_path / 'retina_2x.py', retinanet_2x(shapes)))
    native = Config(dict(model=dict(type='RetinaNet')))
    assert show_dir_path(native, 'vis') == 'vis'  # MMDetection 3.x: WORK_DIR/TIMESTAMP/vis (the hook adds it)
    assert show_dir_path(translated, 'vis') == str(tmp_path / 'vis')  # the 2.x guide: ./vis
    for given in ('./vis', 'out/vis'):
        assert show_dir_path(native, given) == str((tmp_path / given).absolute())
    assert show_dir_path(native, str(tmp_path / 'abs')) == str(tmp_path / 'abs')
