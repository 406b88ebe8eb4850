"""PPOCRSystem (PaddleOCR's TextSystem on our PP-OCRv4 models): reading order, quad ordering, and end to end on
scikit-image's scanned page with the official weights (test extras), upright and upside down. The reference for
the detection boxes and the batched reading is rapidocr_onnxruntime's port of PaddleOCR's inference (the same
test extra), run with PaddleOCR's settings on the same image."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from visioncraft.apis.ppocr_system import order_quad_clockwise, sort_reading_order


def test_order_quad_clockwise_starts_top_left():
    quad = np.array([[10, 30], [10, 10], [50, 12], [50, 32]], np.float32)  # BL, TL, TR, BR
    assert order_quad_clockwise(quad).tolist() == [[10, 10], [50, 12], [50, 32], [10, 30]]


def test_reading_order_is_rows_then_left_to_right():
    def box(x, y):
        return np.array([[x, y], [x + 20, y], [x + 20, y + 8], [x, y + 8]], np.float32)
    # second row first, and a row whose right box sits 4 px higher than its left one
    quads = [box(0, 50), box(60, 6), box(0, 10), box(30, 52)]
    assert sort_reading_order(quads) == [2, 1, 0, 3]


@pytest.fixture(scope='module')
def system():
    pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
    from visioncraft.apis.ppocr_system import PPOCRSystem
    return PPOCRSystem(use_angle_cls=True, rec_batch_num=6)


@pytest.fixture(scope='module')
def page_top() -> np.ndarray:
    skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')
    return cv2.cvtColor(skdata.page()[:72], cv2.COLOR_GRAY2BGR)  # the title and the first body line


def test_system_reads_the_page_top_in_order(system, page_top):
    lines = system(page_top)
    assert [ln.text for ln in lines] == ['Region-based segmentation',
                                         'Let us first determine markers of the coins and the']
    assert [ln.angle for ln in lines] == ['0', '0']
    assert all(ln.score > 0.9 for ln in lines)
    title = lines[0].quad
    assert title.shape == (4, 2) and title[0, 0] < title[1, 0] and title[0, 1] < title[3, 1]  # clockwise from TL


def test_boxes_and_readings_match_paddleocrs_inference(system):
    """Whole page: the same quads as PaddleOCR's DB post-processing and TextSystem filtering (RapidOCR's port, at
    PaddleOCR's settings: ImageNet normalisation, long side <= 960, box_thresh 0.6, unclip 1.5), and the same
    texts and scores from its batched recogniser on our crops."""
    skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

    from visioncraft.apis.ppocr_system import crop_quad
    from visioncraft.apis.ppocr_weights import rapidocr_model_path

    page = cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)
    common = dict(use_cuda=False, intra_op_num_threads=1, inter_op_num_threads=1)
    ref_det = TextDetector(dict(common, model_path=str(rapidocr_model_path('ch_PP-OCRv4_det_infer.onnx')),
                                limit_side_len=960, limit_type='max', mean=[0.485, 0.456, 0.406],
                                std=[0.229, 0.224, 0.225], thresh=0.3, box_thresh=0.6, max_candidates=1000,
                                unclip_ratio=1.5, use_dilation=False, score_mode='fast'))
    ref_boxes, _ = ref_det(page)
    quads, _ = system.detect(page)
    assert len(quads) == len(ref_boxes) == 4
    assert sorted(np.int32(quads).tolist()) == sorted(np.int32(ref_boxes).tolist())
    crops = [crop_quad(page, q) for q in quads]
    ref_rec = TextRecognizer(dict(common, model_path=str(rapidocr_model_path('ch_PP-OCRv4_rec_infer.onnx')),
                                  rec_img_shape=[3, 48, 320], rec_batch_num=6))
    ref_reads, _ = ref_rec(crops)
    ours = system.recognize(crops)
    assert [t for t, _ in ours] == [t for t, _ in ref_reads]
    assert max(abs(s - float(r)) for (_, s), (_, r) in zip(ours, ref_reads)) < 1e-4
    assert ours[0][0] == 'Region-based segmentation'


def test_system_turns_upside_down_lines(system, page_top):
    lines = system(cv2.rotate(page_top, cv2.ROTATE_180))
    # both lines turned back and read (the model may drop the space of the title here: compare without spaces)
    assert [ln.text.replace(' ', '') for ln in lines] == ['Letusfirstdeterminemarkersofthecoinsandthe',
                                                          'Region-basedsegmentation']
    assert all(ln.angle == '180' and ln.angle_score > 0.9 and ln.score > 0.9 for ln in lines)
