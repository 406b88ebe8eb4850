"""GenerateTarget: training targets from the keypoints, by the same codec the head decodes with."""
from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from visioncraft.data.transforms import BaseTransform
from visioncraft.registry import KEYPOINT_CODECS, TRANSFORMS

__all__ = ['GenerateTarget']


@TRANSFORMS.register_module()
class GenerateTarget(BaseTransform):
    """Encode ``transformed_keypoints`` (input pixels; ``keypoints`` when there is none) with a codec and put
    every encoded item in the sample (``heatmaps`` (K, H, W) + ``keypoint_weights`` (N, K), or
    ``keypoint_x_labels`` / ``keypoint_y_labels`` / ``keypoint_weights`` for SimCC).

    Args:
        encoder: a codec config (``dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64),
            sigma=2)``, built from ``KEYPOINT_CODECS``) or a built codec; a list of them encodes with each.
        multilevel: with a list of codecs of one kind (e.g. several sigmas), each key holds the list of
            their outputs; otherwise (default) the codecs must produce different keys, except
            ``keypoint_weights``, which are multiplied.
        use_dataset_keypoint_weights: multiply ``keypoint_weights`` by the metainfo's
            ``dataset_keypoint_weights`` (K,).

    ``keypoints_visible`` (N, K, 2) (visibility and its weight, as some converters give) is split into
    ``keypoints_visible`` (N, K) and ``keypoints_visible_weights`` (N, K) first.
    """

    def __init__(self, encoder: dict | object | Sequence[dict | object], multilevel: bool = False,
                 use_dataset_keypoint_weights: bool = False, target_type: str | None = None) -> None:
        self.encoder_cfg = copy.deepcopy(encoder)
        self.multilevel = multilevel
        self.use_dataset_keypoint_weights = use_dataset_keypoint_weights
        if isinstance(encoder, (list, tuple)):
            self.encoder = [KEYPOINT_CODECS.build(c, key_path=f'encoder[{i}]') for i, c in enumerate(encoder)]
        else:
            if multilevel:
                raise ValueError('GenerateTarget: multilevel=True needs a list of encoders')
            self.encoder = KEYPOINT_CODECS.build(encoder, key_path='encoder')
        # target_type: MMPose 0.x's argument, accepted and ignored (the codec decides the targets)

    def _encode(self, codec, keypoints: np.ndarray, visible: np.ndarray, results: dict) -> dict:
        extra = {k: results.get(k) for k in getattr(codec, 'auxiliary_encode_keys', ())}
        return codec.encode(keypoints, visible, **extra)

    def transform(self, results: dict) -> dict:
        if results.get('transformed_keypoints') is not None:
            keypoints = results['transformed_keypoints']
        elif results.get('keypoints') is not None:
            keypoints = results['keypoints']
        else:
            raise KeyError("GenerateTarget: the sample has neither 'transformed_keypoints' nor 'keypoints'")
        visible = np.asarray(results.get('keypoints_visible', np.ones(np.shape(keypoints)[:2], np.float32)))
        if visible.ndim == 3 and visible.shape[2] == 2:
            results['keypoints_visible_weights'] = visible[..., 1].astype(np.float32)
            visible = visible[..., 0].astype(np.float32)
            results['keypoints_visible'] = visible
        if not isinstance(self.encoder, list):
            encoded = self._encode(self.encoder, keypoints, visible, results)
        else:
            outputs = [self._encode(c, keypoints, visible, results) for c in self.encoder]
            if self.multilevel:
                keys = outputs[0].keys()
                if any(o.keys() != keys for o in outputs):
                    raise ValueError('GenerateTarget: with multilevel=True every encoder must produce the same '
                                     f'keys, got {[sorted(o) for o in outputs]}')
                encoded = {k: [o[k] for o in outputs] for k in keys}
            else:
                encoded, weights = {}, []
                for o in outputs:
                    for k, v in o.items():
                        if k == 'keypoint_weights':
                            weights.append(v)
                        elif k in encoded:
                            raise ValueError(f'GenerateTarget: two encoders produce {k!r}; use multilevel=True '
                                             'for encoders of one kind')
                        else:
                            encoded[k] = v
                if weights:
                    w = weights[0]
                    for other in weights[1:]:
                        w = w * other
                    encoded['keypoint_weights'] = w
        if self.use_dataset_keypoint_weights and 'keypoint_weights' in encoded:
            if 'dataset_keypoint_weights' not in results:
                raise KeyError('GenerateTarget: use_dataset_keypoint_weights=True but the sample has no '
                               'dataset_keypoint_weights (the dataset metainfo provides them)')
            dw = np.asarray(results['dataset_keypoint_weights'], dtype=np.float32)
            kw = encoded['keypoint_weights']
            encoded['keypoint_weights'] = [w * dw for w in kw] if isinstance(kw, list) else kw * dw
        results.update(encoded)
        return results
