"""ppocr_db_boxes (PaddleOCR's DB post-processing, for PPOCRSystem) gives the boxes and scores of the reference
port in rapidocr_onnxruntime (a test extra) on maps with rotated, touching and tiny text regions."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from visioncraft.tasks.textdet.codecs.ppocr_db import ppocr_db_boxes


def _map(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros((160, 224), np.float32)
    for _ in range(8):
        (cx, cy), (w, h), a = rng.uniform((10, 10), (214, 150)), rng.uniform((2, 2), (90, 24)), rng.uniform(-40, 40)
        box = cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(a)))
        cv2.fillPoly(m, [np.int32(box)], float(rng.uniform(0.55, 1.0)))
    return cv2.GaussianBlur(m, (0, 0), 1.2) + rng.uniform(0, 0.05, m.shape).astype(np.float32)


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('score_mode,use_dilation', [('fast', False), ('slow', True)])
def test_matches_the_reference_port(seed, score_mode, use_dilation):
    pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

    prob = _map(seed)
    ref = DBPostProcess(thresh=0.3, box_thresh=0.6, max_candidates=1000, unclip_ratio=1.5, use_dilation=use_dilation,
                        score_mode=score_mode)
    ref_boxes, ref_scores = ref(prob[None, None], (120, 300))
    boxes, scores = ppocr_db_boxes(prob, (120, 300), use_dilation=use_dilation, score_mode=score_mode)
    assert len(boxes) == len(ref_boxes) > 0
    assert np.array_equal(boxes, np.int32(ref_boxes))
    assert np.allclose(scores, np.float32(ref_scores), atol=1e-6)


def test_empty_map_and_bad_arguments():
    boxes, scores = ppocr_db_boxes(np.zeros((32, 32), np.float32), (32, 32))
    assert boxes.shape == (0, 4, 2) and scores.shape == (0,)
    with pytest.raises(ValueError, match='score_mode'):
        ppocr_db_boxes(np.zeros((32, 32), np.float32), (32, 32), score_mode='exact')
