# Runtime settings of the text-recognition recipes (MMOCR's textrecog default_runtime.py): the shared runtime with
# the text-recognition visualizer (each word image with its label in green and its prediction in red under it),
# which the VisualizationHook draws with under --show / --show-dir. The loss log also shows num_unknown_chars:
# label characters missing from the dictionary (dropped, or mapped to <UKN> with with_unknown=True).
_base_ = '../../_base_/default_runtime.py'

default_hooks = dict(logger=dict(type='LoggerHook', interval=100), checkpoint=dict(type='CheckpointHook', interval=1))
visualizer = dict(type='TextRecogLocalVisualizer', name='visualizer', vis_backends=[dict(type='LocalVisBackend')])
