"""A config's test pipeline as the inference API runs it: annotation loading dropped, and, for in-memory images,
the image taken from the array (:class:`LoadImageFromNDArray`, registered as a transform) instead of a file.

Shared by the detection, pose and OCR calls (:mod:`.detection`, :mod:`.pose`, :mod:`.ocr`).
"""
from __future__ import annotations

import cv2
import numpy as np

from visioncraft.config import Config
from visioncraft.data.loading import LoadImageFromFile
from visioncraft.data.transforms import Compose
from visioncraft.registry import TRANSFORMS

__all__ = ['LoadImageFromNDArray', 'inference_steps', 'build_inference_pipeline']


@TRANSFORMS.register_module()
class LoadImageFromNDArray(LoadImageFromFile):
    """Take the image from ``results['img']`` (H x W x 3 uint8 BGR, or H x W) instead of a file.

    The in-memory twin of :class:`LoadImageFromFile`, with the same arguments: ``color_type='color'``
    makes a grayscale array 3-channel, ``'grayscale'`` makes a colour array single-channel and
    ``'unchanged'`` keeps it as it is. Sets ``img_shape`` and ``ori_shape`` (h, w) and ``img_path=None``.
    The caller's array is never modified.
    """

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError('LoadImageFromNDArray: results["img"] must be an H x W x C or H x W numpy array, '
                            f'got {type(img).__name__} {getattr(img, "shape", "")}')
        if self.color_type == 'color' and img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif self.color_type == 'grayscale' and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        img = img.astype(np.float32) if self.to_float32 else img.copy()
        results['img'] = img
        results['img_path'] = results.get('img_path')
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


def inference_steps(cfg: Config, who: str, from_array: bool) -> list[dict]:
    """The config's test pipeline steps without annotation loading (``LoadAnnotations``, ``LoadOCRAnnotations``,
    any scope prefix). With ``from_array`` the image-loading step reads from memory: ``LoadImageFromFile`` keeps
    its arguments as ``LoadImageFromNDArray``; MMPose's ``LoadImage`` becomes a plain ``LoadImageFromNDArray``."""
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except (AttributeError, KeyError) as exc:
        raise KeyError(f'{who}: the model config has no test_dataloader.dataset.pipeline') from exc
    steps = []
    for step in pipeline:
        step = dict(step)
        name = step.get('type')
        short = name.rsplit('.', 1)[-1] if isinstance(name, str) else ''  # 'mmdet.LoadAnnotations' too
        if short.startswith('Load') and short.endswith('Annotations'):
            continue  # no ground truth at inference time
        if from_array and short == 'LoadImageFromFile':
            step['type'] = 'LoadImageFromNDArray'
        elif from_array and short == 'LoadImage':
            step = dict(type='LoadImageFromNDArray')
        steps.append(step)
    return steps


def build_inference_pipeline(cfg: Config, from_array: bool, who: str = 'inference_detector') -> Compose:
    """The config's test pipeline without annotation loading (:func:`inference_steps`), built; from an array it
    loads from memory. Errors name ``who``."""
    return Compose(inference_steps(cfg, who, from_array))
