"""The training engine: Runner, loops, hooks, optimisation, checkpoints, distributed set-up."""
from . import dist
from ..fileio.checkpoint import find_latest_checkpoint, load_checkpoint_file, load_model_weights, save_checkpoint
from .hooks import *  # noqa: F401,F403  (registers the built-in hooks)
from .logging import MessageHub, get_logger
from .loops import EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop, ValLoop
from .optim import *  # noqa: F401,F403  (registers optimizers, wrappers and schedulers)
from .runner import Runner

__all__ = ['Runner', 'EpochBasedTrainLoop', 'IterBasedTrainLoop', 'ValLoop', 'TestLoop', 'MessageHub',
           'get_logger', 'dist', 'save_checkpoint', 'load_checkpoint_file', 'load_model_weights',
           'find_latest_checkpoint']
