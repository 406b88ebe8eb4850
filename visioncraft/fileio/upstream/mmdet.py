"""MMDetection / MMCV checkpoint names -> ours (see the package docstring).

MMCV's ``ConvModule`` keeps its convolution as ``.conv`` and its norm as ``.bn`` / ``.gn`` (after the norm type); our
layers hold the convolution weights directly (``neck.lateral_convs.0.weight``) and call the norm ``norm``."""
from . import register_rules

register_rules('mmdet', [
    (r'^(.+)\.conv\.(weight|bias)$', r'\1.\2'),             # ConvModule(...).conv -> the conv itself
    (r'^(.+)\.gn\.(weight|bias)$', r'\1.norm.\2'),          # ConvModule(norm_cfg=GN).gn -> .norm
    (r'^(.+)\.bn\.(weight|bias|running_mean|running_var|num_batches_tracked)$', r'\1.norm.\2'),
])
