"""Metrics and the evaluator that runs them."""
from .evaluator import Evaluator, build_evaluator
from .metric import BaseMetric, DumpResults

__all__ = ['BaseMetric', 'DumpResults', 'Evaluator', 'build_evaluator']
