"""The reference PP-OCR pipeline: PaddleOCR's ``TextSystem`` as rapidocr_onnxruntime's ONNX Runtime port runs it,
at PaddleOCR's inference settings, on the official ONNX files. The parity tests and ``benchmarks/ocr.py --ppocr``
compare :class:`~visioncraft.apis.PPOCRSystem` (our PyTorch models) with it.

Each step is rapidocr's own code: ``TextDetector`` (DetResizeForTest with the long side at most 960, ImageNet
normalisation, ``DBPostProcess`` with thresh 0.3, box_thresh 0.6, unclip 1.5, no dilation, fast score),
``RapidOCR.sorted_boxes`` (reading order), ``RapidOCR.get_crop_img_list`` (``get_rotate_crop_image``), the optional
``TextClassifier`` and ``TextRecognizer`` (batches of 6), and lines reading below ``drop_score`` 0.5 dropped.
rapidocr's own additions (its letterbox for short images, its 736-pixel short-side resize) are left out: they are
not PaddleOCR's. Needs the test extra ``pip install --no-deps rapidocr-onnxruntime==1.4.4``.
"""
from __future__ import annotations

import time

import numpy as np

from .ppocr_weights import rapidocr_model_path

__all__ = ['ReferencePPOCR']


class ReferencePPOCR:
    """``ReferencePPOCR(use_angle_cls=False, num_threads=1)(img_bgr)`` -> ``[(quad 4 x 2, text, score), ...]`` in
    reading order; :attr:`timings` holds the seconds of the last call (``det``, ``crop_cls``, ``rec``)."""

    def __init__(self, *, use_angle_cls: bool = False, num_threads: int = 1, drop_score: float = 0.5) -> None:
        rapidocr_model_path('ch_PP-OCRv4_det_infer.onnx')  # a clear error when the package is missing
        from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.main import RapidOCR

        common = dict(use_cuda=False, intra_op_num_threads=num_threads, inter_op_num_threads=1)
        self.det = TextDetector(dict(common, model_path=str(rapidocr_model_path('ch_PP-OCRv4_det_infer.onnx')),
                                     limit_side_len=960, limit_type='max', mean=[0.485, 0.456, 0.406],
                                     std=[0.229, 0.224, 0.225], thresh=0.3, box_thresh=0.6, max_candidates=1000,
                                     unclip_ratio=1.5, use_dilation=False, score_mode='fast'))
        self.rec = TextRecognizer(dict(common, model_path=str(rapidocr_model_path('ch_PP-OCRv4_rec_infer.onnx')),
                                       rec_img_shape=[3, 48, 320], rec_batch_num=6))
        self.cls = None
        if use_angle_cls:
            self.cls = TextClassifier(dict(
                common, model_path=str(rapidocr_model_path('ch_ppocr_mobile_v2.0_cls_infer.onnx')),
                cls_image_shape=[3, 48, 192], cls_batch_num=6, cls_thresh=0.9, label_list=['0', '180']))
        self._sorted_boxes = RapidOCR.sorted_boxes
        self._crops = RapidOCR.get_crop_img_list  # uses no state of RapidOCR
        self.drop_score = float(drop_score)
        self.timings: dict[str, float] = {}

    def __call__(self, img: np.ndarray) -> list[tuple[np.ndarray, str, float]]:
        t0 = time.perf_counter()
        boxes, _ = self.det(img)
        boxes = self._sorted_boxes(boxes) if boxes is not None and len(boxes) else []
        t1 = time.perf_counter()
        crops = self._crops(None, img, boxes) if boxes else []
        if self.cls is not None and crops:
            crops, _, _ = self.cls(crops)
        t2 = time.perf_counter()
        reads = self.rec(crops)[0] if crops else []
        t3 = time.perf_counter()
        self.timings = dict(det=t1 - t0, crop_cls=t2 - t1, rec=t3 - t2)
        return [(np.asarray(b, np.float32), str(text), float(score)) for b, (text, score) in zip(boxes, reads)
                if float(score) >= self.drop_score]
