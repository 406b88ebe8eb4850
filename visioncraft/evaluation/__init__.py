"""Metrics and the evaluator that runs them."""
from .evaluator import Evaluator, build_evaluator
from .metric import BaseMetric, DumpResults
from .multi_dataset_evaluator import MultiDatasetEvaluator, MultiDatasetsEvaluator

__all__ = ['BaseMetric', 'DumpResults', 'Evaluator', 'build_evaluator', 'MultiDatasetEvaluator',
           'MultiDatasetsEvaluator']
