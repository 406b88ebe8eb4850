"""The model index: models by name, like MMDetection's metafiles and ``MMOCRInferencer(det='DBNet')``.

Each :class:`ModelInfo` names a config shipped with VisionCraft, the upstream file of its trained weights (URL and
the SHA-256 the upstream publishes: OpenMMLab and torchvision put its first 8 hex digits in the file name, which is
what their own loaders check), where the weights come from, the metric the upstream published for them, and how the
file becomes our checkpoint (``convert``: none for OpenMMLab's files, whose parameter names ours follow; torchvision's
files are converted on the fly by :mod:`visioncraft.tasks.detection.models.convert_torchvision`).

This module is the table and its lookup only (layer 0, no torch: ``visioncraft models`` answers at once);
:mod:`visioncraft.apis.model_index` downloads, converts and resolves names for the APIs and commands. The PP-OCR
models come from the installed ``rapidocr-onnxruntime`` package, not a URL (:mod:`visioncraft.apis.ppocr_models`).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import os
from pathlib import Path

from visioncraft.errors import UserError

__all__ = ['ModelInfo', 'MODEL_INDEX', 'TASKS', 'list_models', 'get_model', 'format_table', 'default_cache_dir']

TASKS = ('det', 'textdet', 'textrecog', 'textcls', 'pose')

_MMDET = 'https://download.openmmlab.com/mmdetection/v2.0'
_MMPOSE = 'https://download.openmmlab.com/mmpose/v1'
_MMOCR = 'https://download.openmmlab.com/mmocr'
_TV = 'https://download.pytorch.org/models'


@dataclass(frozen=True)
class ModelInfo:
    """One named model.

    Attributes:
        name: the index name (the upstream config's file name without ``.py``).
        task: one of :data:`TASKS`.
        config: the config that takes the weights, relative to the repository root (shipped with the package).
        url: the upstream weights file; None for models that come from an installed package (``source`` says).
        sha256: the upstream file's SHA-256 as published: a prefix of at least 8 hex digits (the one in the file
            name) or the full 64.
        source: where the weights come from (toolbox and version of the model zoo).
        metric: the metric the upstream published for these weights (``{'box AP': 37.4}``).
        convert: how the downloaded file becomes our checkpoint: None (loads as it is) or
            ``'torchvision:<arch>'`` (:mod:`~visioncraft.tasks.detection.models.convert_torchvision`, 80 COCO
            classes).
        aliases: other names that find this entry (the MMDetection 2.x file name, a short name).
    """

    name: str
    task: str
    config: str
    url: str | None
    sha256: str | None
    source: str
    metric: dict = field(default_factory=dict)
    convert: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def file_name(self) -> str | None:
        return self.url.rsplit('/', 1)[-1] if self.url else None


def _mmdet(name: str, cfg_dir: str, file: str, sha: str, metric: dict, aliases: tuple[str, ...] = ()) -> ModelInfo:
    stem = file.rsplit('/', 1)[-1]
    return ModelInfo(name, 'det', f'configs/{cfg_dir}/{name}.py', f'{_MMDET}/{cfg_dir}/{file}', sha,
                     'MMDetection 3.3.0 model zoo', metric, None, aliases or (stem.split('_2020')[0],))


def _tv(name: str, arch: str, file: str, metric: dict, aliases: tuple[str, ...]) -> ModelInfo:
    sha = file.rsplit('-', 1)[-1].split('.')[0]
    return ModelInfo(name, 'det', f'configs/torchvision/{name}.py', f'{_TV}/{file}', sha,
                     'torchvision 0.29 (COCO_V1 weights), converted to 80 classes', metric, f'torchvision:{arch}',
                     aliases)


#: every named model (see :class:`ModelInfo`); the name is unique, so is every alias
MODEL_INDEX: tuple[ModelInfo, ...] = (
    # -- detection: MMDetection's model zoo (its 2.x-trained files, which its 3.x configs load) --
    _mmdet('faster-rcnn_r50_fpn_1x_coco', 'faster_rcnn',
           'faster_rcnn_r50_fpn_1x_coco/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth', '047c8118',
           {'box AP': 37.4}, ('faster_rcnn_r50_fpn_1x_coco', 'faster-rcnn')),
    _mmdet('faster-rcnn_r50_fpn_2x_coco', 'faster_rcnn',
           'faster_rcnn_r50_fpn_2x_coco/faster_rcnn_r50_fpn_2x_coco_bbox_mAP-0.384_20200504_210434-a5d8aa15.pth',
           'a5d8aa15', {'box AP': 38.4}, ('faster_rcnn_r50_fpn_2x_coco',)),
    _mmdet('faster-rcnn_r101_fpn_1x_coco', 'faster_rcnn',
           'faster_rcnn_r101_fpn_1x_coco/faster_rcnn_r101_fpn_1x_coco_20200130-f513f705.pth', 'f513f705',
           {'box AP': 39.4}, ('faster_rcnn_r101_fpn_1x_coco',)),
    _mmdet('retinanet_r50_fpn_1x_coco', 'retinanet',
           'retinanet_r50_fpn_1x_coco/retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth', 'c2398f9e',
           {'box AP': 36.5}, ('retinanet',)),
    _mmdet('mask-rcnn_r50_fpn_1x_coco', 'mask_rcnn',
           'mask_rcnn_r50_fpn_1x_coco/mask_rcnn_r50_fpn_1x_coco_20200205-d4b0c5d6.pth', 'd4b0c5d6',
           {'box AP': 38.2, 'mask AP': 34.7}, ('mask_rcnn_r50_fpn_1x_coco', 'mask-rcnn')),
    _mmdet('fcos_r50-caffe_fpn_gn-head_1x_coco', 'fcos',
           'fcos_r50_caffe_fpn_gn-head_1x_coco/fcos_r50_caffe_fpn_gn-head_1x_coco-821213aa.pth', '821213aa',
           {'box AP': 36.6}, ('fcos_r50_caffe_fpn_gn-head_1x_coco',)),
    # -- detection: torchvision's COCO weights --
    _tv('faster-rcnn_r50_fpn_tv_coco', 'fasterrcnn', 'fasterrcnn_resnet50_fpn_coco-258fb6c6.pth', {'box AP': 37.0},
        ('fasterrcnn_resnet50_fpn',)),
    _tv('retinanet_r50_fpn_tv_coco', 'retinanet', 'retinanet_resnet50_fpn_coco-eeacb38b.pth', {'box AP': 36.4},
        ('retinanet_resnet50_fpn',)),
    _tv('mask-rcnn_r50_fpn_tv_coco', 'maskrcnn', 'maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth',
        {'box AP': 37.9, 'mask AP': 34.6}, ('maskrcnn_resnet50_fpn',)),
    _tv('fcos_r50_fpn_tv_coco', 'fcos', 'fcos_resnet50_fpn_coco-99b0c9b7.pth', {'box AP': 39.2},
        ('fcos_resnet50_fpn', 'fcos')),
    # -- 2D pose: MMPose's model zoo (COCO val2017, person boxes of a detector) --
    ModelInfo('rtmpose-s_8xb256-420e_coco-256x192', 'pose',
              'configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py',
              f'{_MMPOSE}/projects/rtmposev1/rtmpose-s_simcc-coco_pt-aic-coco_420e-256x192-8edcf0d7_20230127.pth',
              '8edcf0d7', 'MMPose 1.3.2 model zoo', {'AP': 0.716, 'AR': 0.768}, None, ('human', 'rtmpose-s')),
    ModelInfo('rtmpose-t_8xb256-420e_coco-256x192', 'pose',
              'configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py',
              f'{_MMPOSE}/projects/rtmposev1/rtmpose-tiny_simcc-coco_pt-aic-coco_420e-256x192-e613ba3f_20230127.pth',
              'e613ba3f', 'MMPose 1.3.2 model zoo', {'AP': 0.682, 'AR': 0.736}, None, ('rtmpose-t',)),
    ModelInfo('td-hm_res50_8xb64-210e_coco-256x192', 'pose',
              'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
              f'{_MMPOSE}/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth',
              '04af38ce', 'MMPose 1.3.2 model zoo', {'AP': 0.718, 'AR': 0.774}, None, ('simplebaseline_res50',)),
    ModelInfo('td-hm_res101_8xb64-210e_coco-256x192', 'pose',
              'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res101_8xb64-210e_coco-256x192.py',
              f'{_MMPOSE}/body_2d_keypoint/topdown_heatmap/coco/td-hm_res101_8xb64-210e_coco-256x192-065d3625_20220926.pth',
              '065d3625', 'MMPose 1.3.2 model zoo', {'AP': 0.728, 'AR': 0.783}, None, ('simplebaseline_res101',)),
    ModelInfo('td-hm_hrnet-w32_8xb64-210e_coco-256x192', 'pose',
              'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
              f'{_MMPOSE}/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth',
              '81c58e40', 'MMPose 1.3.2 model zoo', {'AP': 0.746, 'AR': 0.799}, None, ('hrnet-w32',)),
    ModelInfo('td-hm_hrnet-w48_8xb32-210e_coco-256x192', 'pose',
              'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
              f'{_MMPOSE}/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth',
              '0e67c616', 'MMPose 1.3.2 model zoo', {'AP': 0.756, 'AR': 0.806}, None, ('hrnet-w48',)),
    # -- OCR: MMOCR's model zoo --
    ModelInfo('dbnet_resnet18_fpnc_1200e_icdar2015', 'textdet',
              'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py',
              f'{_MMOCR}/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015/'
              'dbnet_resnet18_fpnc_1200e_icdar2015_20220825_221614-7c0e94f2.pth',
              '7c0e94f2', 'MMOCR 1.0.1 model zoo', {'ICDAR2015 hmean-iou': 0.8169}, None, ('dbnet_resnet18', 'DBNet')),
    ModelInfo('dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015', 'textdet',
              'configs/textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py',
              f'{_MMOCR}/textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015/'
              'dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015_20220828_124917-452c443c.pth',
              '452c443c', 'MMOCR 1.0.1 model zoo', {'ICDAR2015 hmean-iou': 0.8543}, None, ('dbnet_resnet50-dcnv2',)),
    ModelInfo('dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015', 'textdet',
              'configs/textdet/dbnetpp/dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015.py',
              f'{_MMOCR}/textdet/dbnetpp/dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015/'
              'dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015_20220829_230108-f289bd20.pth',
              'f289bd20', 'MMOCR 1.0.1 model zoo', {'ICDAR2015 hmean-iou': 0.8684}, None, ('DBNetpp',)),
    ModelInfo('crnn_mini-vgg_5e_mj', 'textrecog', 'configs/textrecog/crnn/crnn_mini-vgg_5e_mj.py',
              f'{_MMOCR}/textrecog/crnn/crnn_mini-vgg_5e_mj/crnn_mini-vgg_5e_mj_20220826_224120-8afbedbb.pth',
              '8afbedbb', 'MMOCR 1.0.1 model zoo', {'IIIT5K word_acc': 0.8053}, None, ('crnn',)),
    ModelInfo('nrtr_modality-transform_6e_st_mj', 'textrecog',
              'configs/textrecog/nrtr/nrtr_modality-transform_6e_st_mj.py',
              f'{_MMOCR}/textrecog/nrtr/nrtr_modality-transform_6e_st_mj/'
              'nrtr_modality-transform_6e_st_mj_20220916_103322-bd9425be.pth',
              'bd9425be', 'MMOCR 1.0.1 model zoo', {'IIIT5K word_acc': 0.915}, None, ('nrtr',)),
    # -- OCR: PP-OCR, from the installed rapidocr-onnxruntime package (visioncraft.apis.ppocr_models) --
    ModelInfo('ppocrv4_mobile_det', 'textdet', 'configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py', None, None,
              'rapidocr-onnxruntime 1.4.4 (ch_PP-OCRv4_det_infer.onnx), converted on first use',
              {}, 'ppocr', ('PP-OCRv4_det',)),
    ModelInfo('ppocrv4_mobile_rec', 'textrecog', 'configs/ppocr/ppocrv4_mobile_rec.py', None, None,
              'rapidocr-onnxruntime 1.4.4 (ch_PP-OCRv4_rec_infer.onnx), converted on first use',
              {}, 'ppocr', ('PP-OCRv4_rec',)),
    ModelInfo('ppocr_mobile_v2.0_cls', 'textcls', 'configs/_base_/models/ppocr_mobile_v2.0_cls.py', None, None,
              'rapidocr-onnxruntime 1.4.4 (ch_ppocr_mobile_v2.0_cls_infer.onnx), converted on first use',
              {}, 'ppocr', ('PP-OCR_cls',)),
)


def _build_lookup() -> dict[str, ModelInfo]:
    lookup: dict[str, ModelInfo] = {}
    for info in MODEL_INDEX:
        if info.task not in TASKS:
            raise ValueError(f'model index: {info.name} has task {info.task!r}, not one of {TASKS}')
        for key in (info.name, *info.aliases):
            folded = key.lower()
            if folded in lookup:
                raise ValueError(f'model index: the name {key!r} of {info.name} is also a name of '
                                 f'{lookup[folded].name}')
            lookup[folded] = info
    return lookup


_LOOKUP = _build_lookup()


def list_models(task: str | None = None) -> list[ModelInfo]:
    """The entries of :data:`MODEL_INDEX`, those of ``task`` only when given."""
    if task is not None and task not in TASKS:
        raise UserError(f'--task {task!r}: not a task of the model index; use one of {", ".join(TASKS)}')
    return [m for m in MODEL_INDEX if task is None or m.task == task]


def get_model(name: str, task: str | None = None) -> ModelInfo:
    """The entry named ``name`` (its name or an alias, case ignored); ``task`` checks it is one of that task."""
    info = _LOOKUP.get(str(name).lower())
    if info is None:
        names = [m.name for m in list_models(task)] + [a for m in list_models(task) for a in m.aliases]
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f'; did you mean {", ".join(close)}?' if close else ''
        raise UserError(f'{name!r} is not a model name of the index{hint} (`visioncraft models` lists them)')
    if task is not None and info.task != task:
        raise UserError(f'{name!r} is a {info.task} model ({info.name}), not a {task} one')
    return info


def format_table(models: list[ModelInfo], *, urls: bool = True) -> str:
    """The index as a plain-text table (what ``visioncraft models`` prints)."""
    rows = [('name', 'task', 'metric', 'source', 'config', 'sha256', 'aliases')]
    for m in models:
        metric = ', '.join(f'{k} {v}' for k, v in m.metric.items()) or '-'
        rows.append((m.name, m.task, metric, m.source, m.config, m.sha256 or '-', ', '.join(m.aliases) or '-'))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for i, r in enumerate(rows):
        lines.append('  '.join(c.ljust(w) for c, w in zip(r[:-1], widths)) + '  ' + r[-1])
        if urls and i and models[i - 1].url:
            lines.append(f'    {models[i - 1].url}')
    return '\n'.join(lines)


def default_cache_dir() -> Path:
    """Where VisionCraft keeps what it downloads or converts: ``$VISIONCRAFT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/visioncraft``, else ``~/.cache/visioncraft``."""
    if os.environ.get('VISIONCRAFT_CACHE_DIR'):
        return Path(os.environ['VISIONCRAFT_CACHE_DIR']).expanduser()
    return Path(os.environ.get('XDG_CACHE_HOME') or '~/.cache').expanduser() / 'visioncraft'
