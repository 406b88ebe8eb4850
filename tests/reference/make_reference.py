"""Make the upstream parity references of tests/reference/test_upstream_parity.py: run by hand, in a scratch venv with
the real MMDetection / MMPose (never a dependency of VisionCraft, never imported by the tests):

    python3 -m venv /tmp/mmvenv && P=/tmp/mmvenv/bin/pip
    $P install torch==2.14.1 torchvision==0.29.1 'setuptools<80' wheel ninja 'numpy<2.3' opencv-python-headless \
        mmengine==0.10.7 scipy pycocotools shapely terminaltables matplotlib json_tricks munkres
    $P download --no-deps --no-binary :all: mmcv==2.1.0 && tar xzf mmcv-2.1.0.tar.gz
    sed -i 's/-std=c++17/-std=c++20/g' mmcv-2.1.0/setup.py     # torch 2.14's headers need C++20
    MMCV_WITH_OPS=1 FORCE_CUDA=0 $P install --no-build-isolation ./mmcv-2.1.0   # about 30 minutes on 2 cores
    $P install --no-deps mmdet==3.3.0 mmpose==1.3.2 mmocr==1.0.1
    # mmocr 1.0.1 asserts mmdet < 3.2.0; its text models run unchanged with 3.3.0 once the bound is relaxed:
    sed -i "s/mmdet_maximum_version = '3.2.0'/mmdet_maximum_version = '3.4.0'/" /tmp/mmvenv/lib/python3.11/site-packages/mmocr/__init__.py
    /tmp/mmvenv/bin/python tests/reference/make_reference.py [NAME ...]

For each model of :data:`CASES` it builds the upstream model from the upstream config file bundled in the installed
package (``<pkg>/.mim/configs/...``, pretrained downloads off, the few test settings of ``overrides`` changed so that
random weights still give detections), gives it the deterministic stand-in weights of reference_weights.py (computed
from the parameter names and shapes: nothing is stored but the names and shapes), runs the fixed input through
inference (and, where the loss is deterministic, one loss computation) and writes
``tests/data/reference/upstream/<name>.pth`` (``torch.load(weights_only=True)``-readable): the parameter names,
shapes and normalisation flags, the input, the metainfo, the overrides and the upstream outputs. A few hundred KB
per model. ``REFERENCE_OUT=DIR`` writes elsewhere (to compare two runs).

The committed files were made with mmcv 2.1.0 built with its compiled ops as above (mmocr 1.0.1 installed with
``--no-deps`` beside mmdet 3.3.0, its mmdet version bound relaxed; xtcocotools, whose wheel needs numpy 1, and imgaug,
which mmocr only imports for a wrapper the references never build, stood in by pycocotools and an empty module). A
second run in a venv whose mmcv had no compiled ops, its nms / roi_align / modulated_deform_conv kernels computed
with torchvision's, gave the same outputs (Faster / Mask R-CNN: the same detections, tied scores in another order).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from reference_weights import reference_state, set_dotted, strip_pretrained  # noqa: E402

OUT = Path(os.environ.get('REFERENCE_OUT') or HERE.parent / 'data' / 'reference' / 'upstream')
SEED = 20261207
POSE_BOX = [135.0, 80.0, 285.0, 280.0]  # x1 y1 x2 y2: centre (210, 180), size 150 x 200 as input_center / scale
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]

_DET_TEST = {'model.test_cfg.rcnn.score_thr': 0.0, 'model.test_cfg.rcnn.max_per_img': 50,
             'model.test_cfg.rpn.nms_pre': 500, 'model.test_cfg.rpn.max_per_img': 300}
_ONE_STAGE_TEST = {'model.test_cfg.score_thr': 0.0, 'model.test_cfg.nms_pre': 500, 'model.test_cfg.max_per_img': 50}

#: name -> (toolbox, config under <pkg>/.mim/configs, overrides (dotted keys, ours take the same), loss?)
CASES = {
    'faster-rcnn_r50_fpn_1x_coco': ('mmdet', 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', _DET_TEST, False),
    'mask-rcnn_r50_fpn_1x_coco': ('mmdet', 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', _DET_TEST, False),
    # C4: the shared ResNet stage 4 on every RoI; 40 proposals keep its cost (and the test's) small; an ImageNet std
    # (the caffe config has 1) keeps the stand-in RPN's deltas small enough to leave proposals inside the image
    'faster-rcnn_r50-caffe-c4_1x_coco': ('mmdet', 'faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py',
                                         {**_DET_TEST, 'model.test_cfg.rpn.max_per_img': 40,
                                          'model.data_preprocessor.std': [58.395, 57.12, 57.375]}, False),
    'retinanet_r50_fpn_1x_coco': ('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py', _ONE_STAGE_TEST, True),
    'fcos_r50-caffe_fpn_gn-head_1x_coco': ('mmdet', 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', _ONE_STAGE_TEST,
                                           True),
    'td-hm_res50_8xb64-210e_coco-256x192': (
        'mmpose', 'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py', {}, False),
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192': (
        'mmpose', 'body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py', {}, False),
    'rtmpose-s_8xb256-420e_coco-256x192': (
        'mmpose', 'body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py', {}, False),
    # DARK decoding (MSRAHeatmap unbiased=True: blur, log, Newton step)
    'td-hm_res50_dark-8xb64-210e_coco-256x192': (
        'mmpose', 'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_dark-8xb64-210e_coco-256x192.py', {}, False),
    # SimCC with the deconvolution stack; see SHIFT_Y_BIAS for the keypoints whose maximum is not positive
    'simcc_res50_8xb64-210e_coco-256x192': (
        'mmpose', 'body_2d_keypoint/simcc/coco/simcc_res50_8xb64-210e_coco-256x192.py', {}, False),
    'dbnet_resnet18_fpnc_1200e_icdar2015': ('mmocr', 'textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py', {}, False),
    'dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015': (
        'mmocr', 'textdet/dbnetpp/dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015.py', {}, False),
    'crnn_mini-vgg_5e_mj': ('mmocr', 'textrecog/crnn/crnn_mini-vgg_5e_mj.py', {}, False),
    # with its STN rectifier; see BUILT for the tensors that keep their built values
    'svtr-tiny_20e_st_mj': ('mmocr', 'textrecog/svtr/svtr-tiny_20e_st_mj.py', {}, False),
    'nrtr_modality-transform_6e_st_mj': ('mmocr', 'textrecog/nrtr/nrtr_modality-transform_6e_st_mj.py', {}, False),
}

#: name -> the decoded-keypoint tolerance (px) where the default 1e-3 is below the upstream's own float noise.
#: DARK: MMPose's Newton step is neither clamped nor checked for concavity, and on the stand-in network's noisy
#: heatmaps some keypoints' log-Hessians are nearly singular (det ~3e-5, steps of ~7 heatmap px; where the blurred
#: map's maximum is negative MMPose's rescaling flips its sign). Measured with MMPose itself on these heatmaps: its
#: keypoints move by 1.1e-3 px between a float32 and a float64 blur and by 1.5e-3 px under 1e-7 relative noise;
#: each plausible deviation from its formula (no rescaling, 1-px second differences, other bounds) moves some
#: keypoint by 0.06 px or more, the concave-and-clamped step by 22 px.
KEYPOINT_TOL = {'td-hm_res50_dark-8xb64-210e_coco-256x192': 1e-2}

#: name -> the y classifier's bias that is shifted down so that about half of the keypoints have a non-positive
#: maximum (MMPose puts those at bin -1, i.e. -1 / simcc_split_ratio input px, its "not found"): the stand-in
#: logits' maxima are all positive. The shift is the midpoint between the two middle keypoints' flip-averaged
#: y maxima (no maximum ends up near 0); the shifted bias is stored in the reference as ``stored``.
SHIFT_Y_BIAS = {'simcc_res50_8xb64-210e_coco-256x192': 'head.mlp_head_y.bias'}

#: name -> regular expressions of state-dict tensors that keep the values the model is built with instead of stand-in
#: ones (recorded in the reference as ``built``; the parity test gives our model its own built values for them, so
#: they check that we compute the same constants). SVTR: the STN's thin-plate-spline matrices and the local mixers'
#: window masks are constants made from the config (stand-in values would make the masks near zero, i.e. global
#: attention, and the spline a warp clamped to the image border over half the output), and ``stn_fc2.bias`` keeps
#: MMOCR's initial control points along the top and bottom edges (with a stand-in bias all 20 points crowd around
#: the top-left corner and the rectified image is a few pixels stretched); its random weight still bends them.
BUILT = {'svtr-tiny_20e_st_mj': (r'^preprocessor\.tps\.', r'\.mixer\.mask$', r'^preprocessor\.stn_fc2\.bias$')}


def det_input() -> tuple[torch.Tensor, dict]:
    """A fixed 128 x 192 BGR uint8 image (smooth blobs on noise, so features vary) and its metainfo: the picture
    was resized from 96 x 144 (scale factor 4/3), so the rescaling to the original image is checked too."""
    rng = np.random.default_rng(7)
    h, w = 128, 192
    yy, xx = np.mgrid[0:h, 0:w]
    img = rng.integers(0, 60, (h, w, 3)).astype(np.float64)
    for cy, cx, r, color in ((40, 50, 25, (200, 40, 40)), (80, 140, 30, (30, 180, 60)), (100, 60, 18, (20, 60, 220))):
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
        img = img + blob * np.array(color)
    img = np.clip(img, 0, 255).astype(np.uint8)
    meta = dict(img_shape=(h, w), ori_shape=(96, 144), scale_factor=(w / 144, h / 96), img_id=0)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous(), meta


def det_gt() -> dict:
    return dict(bboxes=torch.tensor([[20., 15., 80., 70.], [100., 45., 180., 120.]]), labels=torch.tensor([0, 2]))


def pose_input(size_wh: tuple[int, int]) -> tuple[torch.Tensor, dict]:
    """A fixed person-crop-sized BGR uint8 image (the network input after the affine crop) and its metainfo: the
    crop's centre and scale in a larger picture, so the decoding back to image pixels is checked."""
    w, h = size_wh
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:h, 0:w]
    img = rng.integers(0, 50, (h, w, 3)).astype(np.float64)
    for cy, cx, r in ((0.2, 0.5, 0.08), (0.45, 0.35, 0.1), (0.45, 0.65, 0.1), (0.8, 0.4, 0.12), (0.8, 0.6, 0.12)):
        blob = np.exp(-((yy - cy * h) ** 2 + (xx - cx * w) ** 2) / (2 * (r * h) ** 2))[..., None]
        img = img + blob * np.array([180, 160, 140])
    img = np.clip(img, 0, 255).astype(np.uint8)
    meta = dict(input_size=(w, h), input_center=np.array([210.0, 180.0], np.float32),
                input_scale=np.array([150.0, 200.0], np.float32), flip_indices=COCO_FLIP, img_id=0, id=0,
                img_shape=(h, w), ori_shape=(h, w))
    return torch.from_numpy(img).permute(2, 0, 1).contiguous(), meta






def _params(model: torch.nn.Module) -> tuple[list, list]:
    """[(name, shape)] of the state dict and the names that belong to normalisation layers."""
    norm_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)
    norm_names = set()
    for mod_name, mod in model.named_modules():
        if isinstance(mod, norm_types):
            for p in mod.state_dict():
                norm_names.add(f'{mod_name}.{p}' if mod_name else p)
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()], sorted(norm_names)


def _load_reference_weights(model, seed):
    names_shapes, norm_names = _params(model)
    state = reference_state(seed, names_shapes, set(norm_names))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return names_shapes, norm_names


def _config(pkg: str, rel: str, overrides: dict):
    import importlib
    from mmengine.config import Config
    root = Path(importlib.import_module(pkg).__file__).parent / '.mim' / 'configs'
    cfg = Config.fromfile(str(root / rel))
    for key, value in overrides.items():
        set_dotted(cfg, key, value)
    strip_pretrained(cfg.model)
    return cfg


def make_det(name: str, rel: str, overrides: dict, with_loss: bool) -> dict:
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData
    register_all_modules(init_default_scope=True)
    cfg = _config('mmdet', rel, overrides)
    model = MODELS.build(cfg.model)
    names_shapes, norm_names = _load_reference_weights(model, SEED)
    model.eval()
    img, meta = det_input()
    sample = DetDataSample(metainfo=meta)
    with torch.no_grad():
        (pred,) = model.test_step(dict(inputs=[img], data_samples=[sample]))
    p = pred.pred_instances
    out = dict(bboxes=p.bboxes.float(), scores=p.scores.float(), labels=p.labels.long())
    if 'masks' in p:
        out['masks'] = p.masks.bool()
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[img], data_samples=[DetDataSample(metainfo=meta)]), False)
        feats = model.extract_feat(data['inputs'])
    out['feat_means'] = torch.stack([f.mean() for f in feats])
    out['feat_abs_means'] = torch.stack([f.abs().mean() for f in feats])
    out['feat0_patch'] = feats[0][0, :8, :8, :8].clone()
    if with_loss:
        model.train()
        s = DetDataSample(metainfo=meta)
        s.gt_instances = InstanceData(**det_gt())
        data = model.data_preprocessor(dict(inputs=[img], data_samples=[s]), True)
        losses = model(**data, mode='loss')
        out['losses'] = {k: (sum(v) if isinstance(v, list) else v).detach().float() for k, v in losses.items()
                         if 'loss' in k}
    return dict(params=names_shapes, norm_names=norm_names, inputs=img, metainfo=meta, gt=det_gt(), outputs=out)


def make_pose(name: str, rel: str, overrides: dict, with_loss: bool) -> dict:
    from mmpose.registry import MODELS
    from mmpose.structures import PoseDataSample
    from mmpose.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = _config('mmpose', rel, overrides)
    model = MODELS.build(cfg.model)
    names_shapes, norm_names = _load_reference_weights(model, SEED)
    model.eval()
    from mmengine.structures import InstanceData
    img, meta = pose_input(tuple(cfg.codec['input_size']))

    def sample():  # the person box the crop came from (MMPose copies it into the prediction)
        s = PoseDataSample(metainfo=meta)
        s.gt_instances = InstanceData(bboxes=np.array([POSE_BOX], np.float32), bbox_scores=np.ones(1, np.float32))
        return s
    stored = {}
    if name in SHIFT_Y_BIAS:
        seen = []
        decode = model.head.decode
        model.head.decode = lambda outs: seen.append(outs) or decode(outs)  # the flip-averaged logits
        with torch.no_grad():
            model.test_step(dict(inputs=[img], data_samples=[sample()]))
        model.head.decode = decode
        max_x, max_y = (v[0].amax(-1) for v in seen[0])
        mid = torch.sort(max_y).values[len(max_y) // 2 - 1: len(max_y) // 2 + 1].mean()
        key = SHIFT_Y_BIAS[name]
        stored[key] = (model.state_dict()[key] - mid).clone()
        model.load_state_dict(stored, strict=False)
        print(f'{name}: {key} - {float(mid):.4f}; x maxima {max_x.min():.3f}..{max_x.max():.3f}, y maxima '
              f'{(max_y - mid).min():.3f}..{(max_y - mid).max():.3f}, nearest 0: {(max_y - mid).abs().min():.4f}')
    with torch.no_grad():
        (pred,) = model.test_step(dict(inputs=[img], data_samples=[sample()]))
        data = model.data_preprocessor(dict(inputs=[img], data_samples=[sample()]), False)
        raw = model(data['inputs'], None, mode='tensor')
    p = pred.pred_instances
    out = dict(keypoints=torch.as_tensor(np.asarray(p.keypoints), dtype=torch.float32),
               keypoint_scores=torch.as_tensor(np.asarray(p.keypoint_scores), dtype=torch.float32))
    if isinstance(raw, (tuple, list)):
        out['simcc_x'], out['simcc_y'] = raw[0].float(), raw[1].float()
    else:
        out['heatmaps'] = raw.float()
    meta = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in meta.items()}
    ref = dict(params=names_shapes, norm_names=norm_names, inputs=img, metainfo=meta, outputs=out,
               gt_bboxes=torch.tensor([POSE_BOX]))
    if name in KEYPOINT_TOL:
        ref['keypoint_tol'] = KEYPOINT_TOL[name]
    if stored:
        ref['stored'] = stored
    return ref


def textdet_input() -> tuple[torch.Tensor, dict]:
    """A fixed 160 x 224 BGR uint8 image with dark text-like bars on a light background (so the random DB head
    finds regions of both kinds) and its metainfo (resized from 120 x 168)."""
    rng = np.random.default_rng(5)
    h, w = 160, 224
    img = 200 + rng.integers(0, 40, (h, w, 3))
    for y0, x0, y1, x1 in ((20, 20, 40, 150), (70, 40, 92, 200), (120, 10, 140, 90)):
        img[y0:y1, x0:x1] = rng.integers(0, 50, (y1 - y0, x1 - x0, 3))
    img = img.astype(np.uint8)
    meta = dict(img_shape=(h, w), ori_shape=(120, 168), scale_factor=(w / 168, h / 120), img_id=0)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous(), meta


def textrecog_input(h: int, w: int, channels: int) -> tuple[torch.Tensor, dict]:
    """A fixed h x w uint8 word-like image (dark strokes on light) with ``channels`` channels."""
    rng = np.random.default_rng(3)
    img = 190 + rng.integers(0, 50, (h, w, channels))
    for i in range(6):
        x0 = 6 + i * (w - 12) // 6
        img[h // 5: 4 * h // 5, x0: x0 + max(2, w // 30)] = rng.integers(0, 60)
        img[h // 5: h // 5 + 3, x0: x0 + (w - 12) // 8] = rng.integers(0, 60)
    img = img.astype(np.uint8)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), valid_ratio=1.0, img_id=0)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous(), meta


def make_ocr(name: str, rel: str, overrides: dict, with_loss: bool) -> dict:
    from mmocr.registry import MODELS
    from mmocr.structures import TextDetDataSample, TextRecogDataSample
    from mmocr.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = _config('mmocr', rel, overrides)
    model = MODELS.build(cfg.model)
    import re
    built = {k: v.clone() for k, v in model.state_dict().items()
             if any(re.search(p, k) for p in BUILT.get(name, ()))}
    names_shapes, norm_names = _load_reference_weights(model, SEED)
    if built:
        model.load_state_dict(built, strict=False)
    model.eval()
    out = {}
    if rel.startswith('textdet/'):
        img, meta = textdet_input()
        with torch.no_grad():
            (pred,) = model.test_step(dict(inputs=[img], data_samples=[TextDetDataSample(metainfo=meta)]))
            data = model.data_preprocessor(dict(inputs=[img], data_samples=[TextDetDataSample(metainfo=meta)]),
                                           False)
            prob = model.det_head(model.extract_feat(data['inputs']), None, mode='predict')
        out['prob_map'] = prob.float()
        out['polygons'] = [torch.as_tensor(np.asarray(p, np.float32)) for p in pred.pred_instances.polygons]
        out['scores'] = torch.as_tensor(np.asarray(pred.pred_instances.scores, np.float32))
    else:
        load = next(t for t in cfg.test_pipeline if t['type'] == 'LoadImageFromFile')
        channels = 1 if load.get('color_type') == 'grayscale' else 3
        resize = next(t for t in cfg.test_pipeline if t['type'] in ('Resize', 'RescaleToHeight'))
        h, w = (resize['scale'][1], resize['scale'][0]) if 'scale' in resize else (resize['height'], 100)
        if cfg.model.get('preprocessor', 'absent') is None and 'img_size' in cfg.model.get('encoder', {}):
            h, w = cfg.model.encoder.img_size  # no rectifier (STN) to resize: the encoder's own input size
        img, meta = textrecog_input(int(h), int(w), channels)
        with torch.no_grad():
            (pred,) = model.test_step(dict(inputs=[img], data_samples=[TextRecogDataSample(metainfo=meta)]))
            data = model.data_preprocessor(dict(inputs=[img], data_samples=[TextRecogDataSample(metainfo=meta)]),
                                           False)
            probs = model(data['inputs'], data['data_samples'], mode='tensor')
        out['probs'] = probs.float()
        out['text'] = pred.pred_text.item
        score = pred.pred_text.score
        out['score'] = torch.as_tensor(np.asarray(score, np.float32))
        out['dictionary'] = list(model.decoder.dictionary.dict)
    ref = dict(params=names_shapes, norm_names=norm_names, inputs=img, metainfo=meta, outputs=out)
    if built:
        ref['built'] = sorted(built)
    return ref


def main(names: list[str]) -> None:
    import mmdet
    import mmengine
    import mmpose
    import mmcv
    versions = dict(torch=str(torch.__version__), mmengine=mmengine.__version__, mmcv=mmcv.__version__,
                    mmdet=mmdet.__version__, mmpose=mmpose.__version__)
    try:
        import mmocr
        versions['mmocr'] = mmocr.__version__
    except Exception as exc:  # mmocr 1.0.1 asserts mmdet < 3.2; see the docstring
        print(f'mmocr not importable ({exc}); its cases are skipped', flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for name in names or list(CASES):
        pkg, rel, overrides, with_loss = CASES[name]
        if pkg not in versions:
            continue
        make = {'mmdet': make_det, 'mmpose': make_pose, 'mmocr': make_ocr}[pkg]
        ref = make(name, rel, overrides, with_loss)
        ref.update(name=name, toolbox=pkg, upstream_config=rel, overrides=overrides, seed=SEED, versions=versions)
        dst = OUT / f'{name}.pth'
        torch.save(ref, dst)
        print(f'{dst}: {os.path.getsize(dst) / 1024:.0f} KB, outputs {sorted(ref["outputs"])}', flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
