"""MMOCR checkpoint names -> ours (see the package docstring).

MMOCR 1.x names are ours, but for MMCV's ``ConvModule``: the :mod:`.mmdet` rules cover a lone conv, and FPNC's
conv + BN + ReLU layers (``bn_re_on_lateral`` / ``bn_re_on_smooth`` / ``conv_after_concat``), which we keep as a
``Sequential``, take ``.conv`` -> ``.0`` and ``.bn`` -> ``.1`` here. MMOCR 0.x differs in one place more for
the models VisionCraft has: its text detectors (DBNet, DBNet++; built on MMDetection 2.x's single-stage detector)
call the head ``bbox_head``, 1.x and VisionCraft ``det_head``. The 0.x recognisers (CRNN's ``VeryDeepVgg`` +
``CRNNDecoder``, NRTR with ``NRTRModalityTransform`` or ``ResNet31OCR``) already use the 1.x parameter names.

Not converted (no renaming can, and names and shapes don't tell a 0.x file from a 1.x one): the class order of
0.x recognisers' label convertors (0.x CTC puts the blank first, 1.x's dictionary puts its padding, the blank, last),
so a 0.x CRNN loads but reads its classes shifted by one.
"""
from . import register_rules

_FPNC_CBR = r'^((?:.+\.)?neck\.(?:lateral_convs\.\d+|smooth_convs\.\d+|out_conv))'

register_rules('mmocr', [
    (r'^bbox_head\.(.+)$', r'det_head.\1'),                 # MMOCR 0.x text detectors' head
    (_FPNC_CBR + r'\.conv\.(weight|bias)$', r'\1.0.\2'),     # FPNC ConvModule(conv, BN, ReLU) -> Sequential
    (_FPNC_CBR + r'\.bn\.(weight|bias|running_mean|running_var|num_batches_tracked)$', r'\1.1.\2'),
])
