"""Model names the inferencers accept instead of a config file (MMPose's ``pose2d='human'``).

The names of the model index (:mod:`visioncraft.model_index`: ``faster-rcnn_r50_fpn_1x_coco``, ``retinanet``,
``human``...) come first: :func:`resolve_det_weights` and :func:`resolve_pose2d_weights` give their shipped config
and, without weights, their downloaded checkpoint. The tables here add the names that have a config but no published
weights (``det_shapes``, any config file name under a :data:`DET_CONFIG_DIRS` folder), which need weights.

An alias maps a name to the configs it stands for: a constant table, not a registry (there is nothing to build or
register from elsewhere; the configs are files shipped with VisionCraft, found by
:func:`~visioncraft.fileio.package_data.find_package_file` in the package's data or the source checkout).
"""
from __future__ import annotations

import os
from pathlib import Path

from visioncraft.errors import mark_user_error
from visioncraft.fileio.package_data import find_package_file, package_data_roots

from .model_index import is_model_name, resolve_model

__all__ = ['POSE2D_ALIASES', 'DET_ALIASES', 'DET_CONFIG_DIRS', 'resolve_pose2d', 'resolve_det_model',
           'resolve_det_weights', 'resolve_pose2d_weights']

#: the folders of ``configs/`` that hold detection recipes (MMDetection's layout: one folder per model family or
#: data set); a config file name under one of them is a model name :func:`resolve_det_model` accepts
DET_CONFIG_DIRS: tuple[str, ...] = ('faster_rcnn', 'mask_rcnn', 'retinanet', 'fcos', 'pascal_voc', 'cityscapes',
                                    'torchvision')

#: model aliases :class:`~visioncraft.apis.PoseInferencer` accepts for ``pose2d``: candidate configs (relative to
#: the repository root), the first one found wins
POSE2D_ALIASES: dict[str, tuple[str, ...]] = {
    'human': ('configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py',
              'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'),
}

#: model aliases :class:`~visioncraft.apis.DetInferencer` accepts for ``model`` (besides the file name, without
#: ``.py``, of any config in a :data:`DET_CONFIG_DIRS` folder: MMDetection's model names): candidate configs, first
#: found wins
DET_ALIASES: dict[str, tuple[str, ...]] = {
    # retinanet, faster-rcnn, mask-rcnn, fcos: names of the model index (with weights), see visioncraft/model_index.py
    'det_shapes': ('configs/quickstart/det_shapes.py',),
}


def _named_det_configs() -> dict[str, Path]:
    """``{config file stem: path}`` of the configs in the :data:`DET_CONFIG_DIRS` folders (package data first)."""
    found: dict[str, Path] = {}
    for root in package_data_roots():
        for folder in DET_CONFIG_DIRS:
            for path in sorted((root / 'configs' / folder).glob('**/*.py')):
                found.setdefault(path.stem, path)
    return found


def resolve_det_model(model: str | os.PathLike, weights: str | os.PathLike | None) -> str:
    """The config file for :class:`~visioncraft.apis.DetInferencer`'s ``model``: a config path, an alias of
    :data:`DET_ALIASES` or the name of a config in a :data:`DET_CONFIG_DIRS` folder (``retinanet_r50_fpn_1x_coco``
    of ``configs/retinanet/``); a name needs ``weights`` (nothing is downloaded)."""
    key = str(model)
    path = Path(key)
    if path.is_file():
        return str(path)
    found = None
    if key in DET_ALIASES:
        try:
            found = find_package_file(*DET_ALIASES[key])
        except FileNotFoundError:
            pass
    if found is None:
        found = _named_det_configs().get(path.stem if path.suffix == '.py' and path.parent == Path('.') else key)
    if found is None and is_model_name(key, 'det'):  # a name of the model index that is no config file name
        found = resolve_model(key, download=False, task='det')[0]
    if found is None:
        raise FileNotFoundError(f'DetInferencer: model={key!r} is neither a config file, an exported model directory, '
                                f'a model name of the index (`visioncraft models --task det`), an alias '
                                f'({", ".join(DET_ALIASES)}) nor the name of a config under '
                                f'configs/{{{",".join(DET_CONFIG_DIRS)}}}/')
    if weights is None:
        raise mark_user_error(ValueError(
            f"DetInferencer: model='{key}' resolves to {found}, which has no published weights in the model index: "
            f'pass weights=CHECKPOINT (a checkpoint trained with that config), e.g. `visioncraft det IMG --model '
            f'{key} --weights CKPT`, or use a name of `visioncraft models --task det`'))
    return str(found)


def resolve_det_weights(model: str | os.PathLike,
                        weights: str | os.PathLike | None) -> tuple[str, str | None]:
    """``(config file, checkpoint)`` for :class:`~visioncraft.apis.DetInferencer`'s ``model``: a detection name of
    the model index gives its config and, when ``weights`` is None, its weights downloaded on first use; anything
    else goes through :func:`resolve_det_model` (a config path, or a config name, which needs ``weights``)."""
    if is_model_name(str(model), 'det'):
        return resolve_model(str(model), weights, task='det')
    return resolve_det_model(model, weights), None if weights is None else str(weights)


def resolve_pose2d_weights(pose2d: str | os.PathLike,
                           pose2d_weights: str | os.PathLike | None) -> tuple[str, str | None]:
    """``(config file, checkpoint)`` for ``pose2d``: a pose name of the model index (``human``,
    ``td-hm_res50_8xb64-210e_coco-256x192``) gives its config and, without ``pose2d_weights``, its weights
    downloaded on first use; a config path goes through :func:`resolve_pose2d`."""
    if is_model_name(str(pose2d), 'pose'):
        return resolve_model(str(pose2d), pose2d_weights, task='pose')
    return resolve_pose2d(pose2d, pose2d_weights), None if pose2d_weights is None else str(pose2d_weights)


def resolve_pose2d(pose2d: str | os.PathLike, pose2d_weights: str | os.PathLike | None) -> str:
    """The config file for ``pose2d``: an alias of :data:`POSE2D_ALIASES` (which needs ``pose2d_weights``: no
    weights are downloaded) or a config path."""
    key = str(pose2d)
    if key in POSE2D_ALIASES:
        for rel in POSE2D_ALIASES[key]:  # in order: the first one found wins
            try:
                found = find_package_file(rel)
                break
            except FileNotFoundError:
                continue
        else:
            roots = ' or '.join(str(r) for r in package_data_roots())
            raise FileNotFoundError(f"PoseInferencer: pose2d='{key}' names the configs {list(POSE2D_ALIASES[key])}, "
                                    f'none of which is in {roots}; pass a config file instead')
        if pose2d_weights is None:  # resolve_pose2d_weights downloads the index's weights of a name
            raise ValueError(f"PoseInferencer: pose2d='{key}' resolves to {rel}; pass pose2d_weights=CHECKPOINT (a "
                             'checkpoint trained with that config), or let resolve_pose2d_weights download the '
                             f'model index\'s (`visioncraft pose IMG --pose2d {key}`)')
        return str(found)
    path = Path(key)
    if not path.is_file():
        raise FileNotFoundError(f'PoseInferencer: pose2d={key!r} is neither a model alias '
                                f'({", ".join(POSE2D_ALIASES)}), a pose model name of the index (`visioncraft models '
                                '--task pose`) nor a config file')
    return str(path)
