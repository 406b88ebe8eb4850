"""Top-k classification accuracy."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...registry import METRICS
from ..metric import BaseMetric

__all__ = ['Accuracy']


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Percentage of samples whose ``gt_label`` is among the top-k of ``pred_score``.

    Keys: ``accuracy/top1``, ``accuracy/top5``... (in percent).
    """

    default_prefix = 'accuracy'

    def __init__(self, topk: int | Sequence[int] = (1,), collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)

    def process(self, data_batch, data_samples) -> None:
        for s in data_samples:
            score = s.pred_score if 'pred_score' in s else None
            self.results.append(dict(gt=int(s.gt_label.reshape(-1)[0]),
                                     score=None if score is None else score.detach().cpu().float(),
                                     pred=int(s.pred_label.reshape(-1)[0])))

    def compute_metrics(self, results: list) -> dict:
        gt = torch.tensor([r['gt'] for r in results])
        out = {}
        for k in self.topk:
            if k == 1 or results[0]['score'] is None:
                if k != 1:
                    raise ValueError(f'top{k} accuracy needs pred_score in the predictions')
                correct = torch.tensor([r['pred'] for r in results]) == gt
            else:
                scores = torch.stack([r['score'] for r in results])
                correct = (scores.topk(min(k, scores.shape[1]), dim=1).indices == gt[:, None]).any(1)
            out[f'top{k}'] = 100.0 * correct.float().mean().item()
        return out
