"""Hooks: built-in ones register in HOOKS on import."""
from .checkpoint_hook import CheckpointHook
from .early_stopping_hook import EarlyStoppingHook
from .ema_hook import EMAHook
from .hook import HOOK_POINTS, Hook, Priority, get_priority
from .misc_hooks import BadCaseAnalysisHook, DistSamplerSeedHook, EmptyCacheHook, ParamSchedulerHook, SyncBuffersHook
from .pipeline_switch_hook import PipelineSwitchHook
from .profiler_hook import ProfilerHook
from .timer_logger import IterTimerHook, LoggerHook
from .val_every_n_iters_hook import ValEveryNItersHook
from .visualization_hook import VisualizationHook

__all__ = ['Hook', 'Priority', 'get_priority', 'HOOK_POINTS', 'CheckpointHook', 'EarlyStoppingHook', 'EMAHook',
           'DistSamplerSeedHook', 'EmptyCacheHook', 'ParamSchedulerHook', 'ProfilerHook', 'IterTimerHook',
           'LoggerHook', 'ValEveryNItersHook', 'VisualizationHook', 'SyncBuffersHook', 'BadCaseAnalysisHook',
           'PipelineSwitchHook']
