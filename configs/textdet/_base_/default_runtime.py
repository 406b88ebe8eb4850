# Runtime settings of the text-detection recipes (MMOCR's textdet default_runtime.py): the shared runtime with
# the text-detection visualizer (ground truth in green on the left, predictions in red on the right), which the
# VisualizationHook draws with under --show / --show-dir.
_base_ = '../../_base_/default_runtime.py'

default_hooks = dict(logger=dict(type='LoggerHook', interval=5), checkpoint=dict(type='CheckpointHook', interval=20))
visualizer = dict(type='TextDetLocalVisualizer', name='visualizer', vis_backends=[dict(type='LocalVisBackend')])
