"""Export of detectors (RetinaNet, FCOS, Faster R-CNN, Mask R-CNN) and the config-free :class:`DetPredictor`: the
exported model, on ONNX Runtime and TorchScript, finds what the checkpoint finds through the config's test pipeline
and ``model.predict`` (:func:`inference_detector`), on images whose network inputs differ in size from the export's
example (so the graphs' batch / height / width are dynamic), one at a time and as one padded batch.

Tolerances: the same number of detections with equal labels, boxes within 1e-3 px, scores within 1e-4, mask IoU
>= 0.99. The backends run the same layers with other kernels (TorchScript freezing folds BatchNorm, onnxruntime fuses
its own), ~1e-6 apart, and the post-processing is the model's own code on those outputs (measured: boxes within
4e-5 px, scores within 5e-7, masks identical). Detections are matched by label and box, so two near-equal scores
listed in the other order would not fail the test.

The tiny models (TinyDetBackbone, 32-channel FPN and heads, 3 classes) have seeded random weights with sharpened
classifier / regressor layers, as the torchvision parity tests do: confident, varied detections (>= 3 on every
image, asserted) whose exact values do not matter, since the comparison is eager vs. exported on the same weights.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

FAMILIES = ('retinanet', 'fcos', 'faster_rcnn', 'mask_rcnn')
CLASSES = ('circle', 'square', 'star')
_PRE = dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True, pad_size_divisor=32)
_BACKBONE = dict(type='TinyDetBackbone', stem_channels=8, widths=(16, 24, 32, 48), depths=(1, 1, 1, 1))
_DENSE_TEST = dict(nms_pre=100, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=20)
# keep-ratio Resize into 160 x 128: scale factors != 1 and network inputs of other sizes than the 96 x 128 example
TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                 dict(type='Resize', scale=(160, 128), keep_ratio=True), dict(type='PackDetInputs')]
IMAGE_SIZES = {'wide.png': (100, 140), 'tall.png': (150, 90)}  # (h, w): inputs 128 x 160 and 160 x 96


def _model_cfg(family: str) -> dict:
    if family in ('retinanet', 'fcos'):
        neck = dict(type='FPN', out_channels=32, num_outs=5,
                    add_extra_convs='on_input' if family == 'retinanet' else 'on_output')
        head = dict(type='RetinaHead', num_classes=3, feat_channels=32, stacked_convs=1,
                    anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                          ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])) \
            if family == 'retinanet' else \
            dict(type='FCOSHead', num_classes=3, feat_channels=32, stacked_convs=1,
                 norm_cfg=dict(type='GN', num_groups=8))
        return dict(type='RetinaNet' if family == 'retinanet' else 'FCOS', data_preprocessor=_PRE,
                    backbone=dict(_BACKBONE, out_indices=(1, 2, 3)), neck=neck, bbox_head=head, test_cfg=_DENSE_TEST)
    roi_head = dict(type='StandardRoIHead',
                    bbox_roi_extractor=dict(type='SingleRoIExtractor', featmap_strides=[4, 8, 16, 32],
                                            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)),
                    bbox_head=dict(type='Shared2FCBBoxHead', num_classes=3, fc_out_channels=64))
    if family == 'mask_rcnn':
        roi_head.update(mask_roi_extractor=dict(type='SingleRoIExtractor', featmap_strides=[4, 8, 16, 32],
                                                roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)),
                        mask_head=dict(type='FCNMaskHead', num_classes=3, num_convs=2, roi_feat_size=7,
                                       conv_out_channels=32))
    return dict(type='FasterRCNN' if family == 'faster_rcnn' else 'MaskRCNN', data_preprocessor=_PRE,
                backbone=dict(_BACKBONE, out_indices=(0, 1, 2, 3)), neck=dict(type='FPN', out_channels=32, num_outs=5),
                rpn_head=dict(type='RPNHead', feat_channels=32,
                              anchor_generator=dict(type='AnchorGenerator', scales=[4], ratios=[0.5, 1.0, 2.0],
                                                    strides=[4, 8, 16, 32, 64])),
                roi_head=roi_head,
                test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7)),
                              rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10,
                                        mask_thr_binary=0.5)))


@torch.no_grad()
def _sharpen(model, family: str, gen: torch.Generator) -> None:
    """Sharper logits and varied class biases (the conftest sharpen_* recipe for these heads): confident boxes."""
    if family == 'retinanet':
        head = model.bbox_head
        head.retina_cls.weight.mul_(60)
        head.retina_cls.bias.normal_(-3.0, 1.0, generator=gen)
        head.retina_reg.weight.mul_(20)
    elif family == 'fcos':
        head = model.bbox_head
        head.conv_cls.weight.mul_(8)
        head.conv_cls.bias.normal_(-3.0, 1.0, generator=gen)
        head.conv_reg.weight.mul_(10)
        head.conv_reg.bias.fill_(1.5)
        head.conv_centerness.weight.mul_(3)
    else:
        model.rpn_head.rpn_cls.weight.mul_(50)
        model.rpn_head.rpn_reg.weight.mul_(10)
        box = model.roi_head.bbox_head
        box.fc_cls.weight.mul_(20)
        box.fc_cls.bias.normal_(0.0, 2.0, generator=gen)
        box.fc_cls.bias[-1] = 2.0  # background (last): plenty of RoIs score low
        box.fc_reg.weight.mul_(20)
        if model.roi_head.mask_head is not None:
            model.roi_head.mask_head.conv_logits.weight.mul_(10)


@pytest.fixture(scope='module', params=FAMILIES)
def exported(request, tmp_path_factory):
    """One family: config file, checkpoint, export directory (written by `visioncraft export --work-dir`), images."""
    from visioncraft.cli.main import main
    from visioncraft.config import Config
    from visioncraft.engine.checkpoint import save_checkpoint
    from visioncraft.registry import MODELS
    family = request.param
    tmp = tmp_path_factory.mktemp(f'export_{family}')
    model_cfg = _model_cfg(family)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(model_cfg)).eval()
    _sharpen(model, family, torch.Generator().manual_seed(1))
    ckpt = tmp / f'{family}.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=CLASSES))), ckpt)
    dataset = dict(type='CocoDataset', data_root=str(tmp), ann_file='unused.json', test_mode=True,
                   pipeline=TEST_PIPELINE)
    cfg_file = tmp / f'{family}.py'
    Config(dict(model=model_cfg, test_dataloader=dict(batch_size=2, num_workers=0, dataset=dataset))).dump(cfg_file)
    rng = np.random.default_rng(3)
    images = {name: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for name, (h, w) in IMAGE_SIZES.items()}
    img_dir = tmp / 'images'
    img_dir.mkdir()
    for name, img in images.items():
        cv2.imwrite(str(img_dir / name), img)
    written = main(['export', str(cfg_file), str(ckpt), '--work-dir', str(tmp / 'inference')])
    return dict(family=family, cfg=cfg_file, ckpt=ckpt, model_dir=tmp / 'inference', img_dir=img_dir, images=images,
                written=written, tmp=tmp)


def _assert_same(ref, got, what: str) -> None:
    """Same detections: count, and for each reference detection one of the same label with its box within 1e-3 px,
    its score within 1e-4 (and its mask IoU >= 0.99)."""
    assert len(got) == len(ref), f'{what}: {len(got)} detections, the checkpoint gives {len(ref)}'
    used: set[int] = set()
    for i in range(len(ref)):
        dist = (got.bboxes - ref.bboxes[i]).abs().amax(dim=1)
        dist[got.labels != ref.labels[i]] = float('inf')
        dist[list(used)] = float('inf')
        j = int(dist.argmin())
        used.add(j)
        assert float(dist[j]) <= 1e-3, f'{what}: box {ref.bboxes[i].tolist()} (label {int(ref.labels[i])}) not found'
        assert abs(float(got.scores[j]) - float(ref.scores[i])) <= 1e-4, f'{what}: scores differ'
        if 'masks' in ref:
            inter = float((got.masks[j] & ref.masks[i]).sum())
            union = float((got.masks[j] | ref.masks[i]).sum())
            assert union > 0 and inter / union >= 0.99, f'{what}: mask IoU {inter / max(union, 1):.4f}'


def test_export_directory(exported):
    import onnx

    from visioncraft.export import DetPredictor, TextDetPredictor, load_predictor
    d, family = exported['model_dir'], exported['family']
    two_stage = family in ('faster_rcnn', 'mask_rcnn')
    extra = {'roi_bbox.pt', 'roi_bbox.onnx'} | ({'roi_mask.pt', 'roi_mask.onnx'} if family == 'mask_rcnn' else set())
    assert set(exported['written']) == {'torchscript', 'onnx', 'inference.json'} | (extra if two_stage else set())
    assert all(p.is_file() for p in exported['written'].values())
    info = json.loads((d / 'inference.json').read_text())
    assert info['task'] == 'detection' and info['source_config'] == f'{family}.py'
    assert info['dataset_meta']['classes'] == list(CLASSES) and len(info['dataset_meta']['palette']) == 3
    assert [s['type'] for s in info['preprocess']['pipeline']] == ['LoadImageFromNDArray', 'Resize', 'PackDetInputs']
    pre = info['preprocess']['data_preprocessor']  # mean / std as the float32 buffers hold them
    assert pre == dict(_PRE, pad_value=0.0, mean=pytest.approx(_PRE['mean']), std=pytest.approx(_PRE['std']))
    post = info['postprocess']
    if two_stage:
        assert info['outputs'][:4] == ['feat_0', 'feat_1', 'feat_2', 'feat_3'] and len(info['outputs']) == 14
        assert post['rpn_head']['anchor_generator'] == _model_cfg(family)['rpn_head']['anchor_generator']
        assert post['rpn_head']['test_cfg']['nms_pre'] == 200 and post['roi_head']['test_cfg']['max_per_img'] == 10
        assert set(info['graphs']) == ({'roi_bbox', 'roi_mask'} if family == 'mask_rcnn' else {'roi_bbox'})
    else:
        groups = ['cls', 'reg'] + (['ctr'] if family == 'fcos' else [])
        assert info['output_groups'] == groups and info['outputs'] == [f'{g}_{i}' for g in groups for i in range(5)]
        assert post['bbox_head']['test_cfg'] == dict(_DENSE_TEST, **({'score_mode': 'product'} if family == 'fcos'
                                                                     else {}))
    graph = onnx.load(str(d / 'model.onnx'))
    dims = [x.dim_param or x.dim_value for x in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']
    predictor = load_predictor(d, backend='torchscript')
    assert isinstance(predictor, DetPredictor) and predictor.dataset_meta['classes'] == list(CLASSES)
    with pytest.raises(ValueError, match='TextDetPredictor needs a text-detection export'):
        TextDetPredictor(d)


def test_exported_equals_checkpoint(exported):
    """ONNX Runtime and TorchScript vs. init_detector + inference_detector: one image at a time, and both images as
    one padded batch (the config's test batch size is 2, so inference_detector batches them too)."""
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import DetPredictor
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    images = list(exported['images'].values())
    refs = [inference_detector(model, img) for img in images]
    batch_refs = inference_detector(model, images)
    for name, ref in zip(exported['images'], refs):
        assert len(ref.pred_instances) >= 3, f'{name}: the tiny model found too little; the test would prove little'
    for backend in ('onnxruntime', 'torchscript'):
        predictor = DetPredictor(exported['model_dir'], backend=backend)
        for name, img, ref in zip(exported['images'], images, refs):
            got = predictor(img)
            meta = got.metainfo
            assert tuple(meta['batch_input_shape']) != (96, 128)  # another input size than the export's example
            assert tuple(meta['ori_shape']) == img.shape[:2]
            assert tuple(meta['scale_factor']) == tuple(ref.metainfo['scale_factor']) != (1.0, 1.0)
            _assert_same(ref.pred_instances, got.pred_instances, f'{exported["family"]} {backend} {name}')
            if exported['family'] == 'mask_rcnn':
                assert got.pred_instances.masks.shape[1:] == img.shape[:2]
        for name, ref, got in zip(exported['images'], batch_refs, predictor(images)):
            _assert_same(ref.pred_instances, got.pred_instances, f'{exported["family"]} {backend} batch {name}')


def test_no_detections(exported):
    """Nothing above the score threshold (set above 1 in the checkpoint's and the predictor's head alike): empty
    results with every field, as the checkpoint gives; Mask R-CNN's mask graph then gets zero RoIs."""
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import DetPredictor
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    predictor = DetPredictor(exported['model_dir'], backend='onnxruntime')
    two_stage = predictor.kind == 'TwoStageDetector'
    for head in (model.roi_head, predictor.roi_head) if two_stage else (model.bbox_head, predictor.bbox_head):
        head.test_cfg['score_thr'] = 1.0
    img = exported['images']['wide.png']
    want, got = inference_detector(model, img).pred_instances, predictor(img).pred_instances
    assert len(want) == len(got) == 0 and set(got.keys()) == set(want.keys())
    assert got.bboxes.shape == (0, 4) and got.labels.dtype == torch.int64
    if two_stage:  # the box graph on zero RoIs: empty outputs of its shapes
        cls_score, bbox_pred = predictor.roi_head.bbox_head(torch.zeros((0, 32, 7, 7)))
        assert cls_score.shape == (0, 4) and bbox_pred.shape == (0, 12)


def test_predict_command(exported, tmp_path):
    """`visioncraft predict --model-dir DIR FOLDER`: MMDetection's preds/<stem>.json (every detection) and vis/<name>
    (the drawing), the values the predictor gives."""
    from visioncraft.cli.main import main
    from visioncraft.export import DetPredictor
    out = tmp_path / 'out'
    results = main(['predict', str(exported['img_dir']), '--model-dir', str(exported['model_dir']), '--backend',
                    'torchscript', '--out-dir', str(out), '--score-thr', '0.2'])
    assert set(results) == set(exported['images'])
    predictor = DetPredictor(exported['model_dir'], backend='torchscript')
    for name, img in exported['images'].items():
        doc = json.loads((out / 'preds' / f'{Path(name).stem}.json').read_text())
        want = predictor(img).pred_instances
        assert doc['labels'] == want.labels.tolist() and np.allclose(doc['scores'], want.scores.numpy())
        assert np.allclose(doc['bboxes'], want.bboxes.numpy(), atol=1e-4)
        if exported['family'] == 'mask_rcnn':
            from visioncraft.structures import rle_to_bitmap
            assert len(doc['masks']) == len(want) and doc['masks'][0]['size'] == list(img.shape[:2])
            assert np.array_equal(rle_to_bitmap(doc['masks'][0]).astype(bool), want.masks[0].numpy())
        else:
            assert 'masks' not in doc
        drawn = cv2.imread(str(out / 'vis' / name))
        assert drawn is not None and drawn.shape[:2] != (0, 0)


def test_frozen_size_branch_is_refused(tmp_path):
    """A graph whose trace only fits the example's size (pad_size_divisor 1: the FPN's upsampling takes another path
    on odd sizes) is refused at export time by the check on a second input size, with advice."""
    from visioncraft.export import export_model
    from visioncraft.registry import MODELS
    cfg = _model_cfg('retinanet')
    cfg['data_preprocessor'] = dict(_PRE, pad_size_divisor=1)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg))
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'm.pth')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]
    config = dict(model=cfg, test_dataloader=dict(dataset=dict(type='CocoDataset', pipeline=pipeline,
                                                               metainfo=dict(classes=CLASSES))))
    with pytest.raises(RuntimeError, match='froze a size-dependent branch.*pad_size_divisor'):
        export_model(config, str(tmp_path / 'm.pth'), tmp_path / 'out', formats=('torchscript',))
