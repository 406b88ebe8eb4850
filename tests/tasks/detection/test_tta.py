"""Test-time augmentation: TestTimeAug makes the views, DetTTAModel flips each view's predictions back and merges
them, apply_tta sets a config up as MMDetection's --tta does, and `visioncraft test --tta` runs it end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import tiny_retinanet
from visioncraft.config import Config
from visioncraft.data import Compose, pseudo_collate
from visioncraft.models.tta import apply_tta
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models.tta import DetTTAModel, unflip_boxes


def _sample(h=40, w=60, seed=0):
    rng = np.random.default_rng(seed)
    return dict(img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8), img_shape=(h, w), ori_shape=(h, w),
                img_id=seed, img_path=f'img{seed}.png', gt_bboxes=np.array([[5., 6., 20., 30.]], np.float32),
                gt_bboxes_labels=np.array([1]))


def test_test_time_aug_makes_every_combination():
    pipeline = Compose([dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(120, 80), keep_ratio=True), dict(type='Resize', scale=(60, 40), keep_ratio=True)],
        [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)],
        [dict(type='PackDetInputs')]])])
    out = pipeline(_sample())
    assert len(out['inputs']) == len(out['data_samples']) == 4
    shapes = [tuple(x.shape[1:]) for x in out['inputs']]
    assert shapes == [(80, 120), (80, 120), (40, 60), (40, 60)]
    flips = [s.get('flip') for s in out['data_samples']]
    assert flips == [True, False, True, False]
    # the flipped view's image is the mirror of the unflipped one, and so are its boxes
    assert torch.equal(out['inputs'][0], out['inputs'][1].flip(-1))
    b_flip = out['data_samples'][2].gt_instances.bboxes
    b_plain = out['data_samples'][3].gt_instances.bboxes
    assert torch.allclose(unflip_boxes(b_flip, 'horizontal', (40, 60)), b_plain)
    batch = pseudo_collate([out, pipeline(_sample(seed=1))])
    assert len(batch['inputs']) == 4 and len(batch['inputs'][0]) == 2  # inputs[view][sample]


class _MirrorDetector(nn.Module):
    """Sees one object at a fixed place of the ORIGINAL image: reports it where it lies in the view's pixels
    (mirrored on a flipped view), with a view-dependent score, plus one view-only false positive."""

    def test_step(self, data):
        out = []
        for sample in data['data_samples']:
            h, w = sample.get('ori_shape')
            box = torch.tensor([[10., 5., 30., 25.], [0., 0., 4., 4.]])
            score = torch.tensor([0.9 if not sample.get('flip') else 0.8, 0.3])
            if sample.get('flip'):
                box = unflip_boxes(box, sample.get('flip_direction'), (h, w))  # flipping is its own inverse
                score = torch.tensor([0.8, 0.2])
                box[1] = torch.tensor([50., 30., 56., 36.])  # a second, different box only in this view
            s = sample.clone()
            s.pred_instances = InstanceData(bboxes=box, scores=score, labels=torch.tensor([1, 0]))
            out.append(s)
        return out


def _views(directions):
    samples = []
    for d in directions:
        samples.append(DataSample(metainfo=dict(ori_shape=(40, 60), img_shape=(40, 60), flip=d is not None,
                                                flip_direction=d, img_id=7)))
    return samples


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_det_tta_model_unflips_and_merges(direction):
    model = DetTTAModel(module=_MirrorDetector(), tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                                                               max_per_img=2))
    views = _views([None, direction])
    data = dict(inputs=[[torch.zeros(3, 40, 60)], [torch.zeros(3, 40, 60)]], data_samples=[[views[0]], [views[1]]])
    (merged,) = model.test_step(data)
    pred = merged.pred_instances
    # the object seen in both views is one box back in original pixels, with the better score; max_per_img=2
    # keeps the two best of the three distinct boxes
    assert len(pred) == 2
    assert torch.allclose(pred.bboxes[0], torch.tensor([10., 5., 30., 25.]))
    assert pred.scores[0].item() == pytest.approx(0.9)
    assert merged.get('flip') is False and merged.get('img_id') == 7


def test_det_tta_single_unflipped_view_equals_the_plain_model():
    torch.manual_seed(0)
    net = MODELS.build(tiny_retinanet()).eval()
    tta = DetTTAModel(module=net, tta_cfg=dict(max_per_img=10)).eval()
    pipeline = Compose([dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip', prob=0.0)],
                                                             [dict(type='PackDetInputs')]])])
    plain = Compose([dict(type='PackDetInputs')])
    samples = [_sample(64, 64, seed=s) for s in (0, 1)]
    got = tta.test_step(pseudo_collate([pipeline(dict(s)) for s in samples]))
    want = net.test_step(pseudo_collate([plain(dict(s)) for s in samples]))
    for g, w in zip(got, want):
        order_g, order_w = g.pred_instances.scores.argsort(), w.pred_instances.scores.argsort()
        assert torch.allclose(g.pred_instances.bboxes[order_g], w.pred_instances.bboxes[order_w])
        assert torch.allclose(g.pred_instances.scores[order_g], w.pred_instances.scores[order_w])


def test_apply_tta_wraps_model_and_swaps_pipeline():
    pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64)), dict(type='PackDetInputs')]
    cfg = Config(dict(model=dict(type='RetinaNet'), test_dataloader=dict(
        dataset=dict(type='RepeatDataset', times=1, dataset=dict(type='CocoDataset', pipeline=pipe)))))
    said = []
    apply_tta(cfg, log=said.append)
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module.type == 'RetinaNet'
    inner = cfg.test_dataloader.dataset.dataset.pipeline
    assert inner[-1]['type'] == 'TestTimeAug' and inner[:2] == pipe[:2]
    assert len(said) == 2  # the defaults it chose are said
    with pytest.raises(KeyError, match='test_dataloader'):
        apply_tta(Config(dict(model=dict(type='RetinaNet'))))
    with pytest.raises(KeyError, match='module'):
        apply_tta(Config(dict(model={}, tta_model=dict(type='DetTTAModel', module={}),
                              test_dataloader=dict(dataset=dict(pipeline=pipe)))))


def test_visioncraft_test_with_tta_runs_and_evaluates(tmp_path):
    """`visioncraft test CFG CKPT --tta`: the checkpoint loads into the wrapped detector, every image is seen
    flipped and unflipped, and COCO metrics come out; without tta_model / tta_pipeline the defaults are used."""
    from conftest import tiny_retinanet as tiny
    from visioncraft.cli.main import main as vc_main
    from visioncraft.data.synthetic.det_shapes import DET_SHAPE_CLASSES, generate_det_shapes
    data = generate_det_shapes(tmp_path / 'shapes', num_train=1, num_val=2, image_size=(96, 80), max_objects=3,
                               seed=5)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]
    model = tiny()
    model['bbox_head'] = dict(model['bbox_head'], num_classes=len(DET_SHAPE_CLASSES))
    ann = str(data / 'annotations' / 'instances_val.json')
    cfg = dict(model=model,
               test_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                                    dataset=dict(type='CocoDataset', data_root=str(data),
                                                 ann_file='annotations/instances_val.json',
                                                 metainfo=dict(classes=DET_SHAPE_CLASSES), pipeline=pipeline,
                                                 test_mode=True)),
               test_evaluator=dict(type='CocoMetric', ann_file=ann), test_cfg=dict())
    cfg_path = tmp_path / 'tiny_det.py'
    Config(cfg).dump(cfg_path)
    torch.manual_seed(0)
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': MODELS.build(model).state_dict()}, ckpt)
    metrics = vc_main(['test', str(cfg_path), str(ckpt), '--work-dir', str(tmp_path / 'wd'), '--tta',
                       '--out', str(tmp_path / 'preds.pkl')])
    assert 'coco/bbox_mAP' in metrics
    import pickle
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 2
