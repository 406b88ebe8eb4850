"""IoULoss / GIoULoss: values against torchvision, reductions, weights, degenerate boxes."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou, generalized_box_iou_loss

from visioncraft.models.losses import aligned_box_iou
from visioncraft.registry import MODELS


def _boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    return torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * 40], dim=1)


def test_iou_and_giou_match_torchvision():
    a, b = _boxes(20, 0), _boxes(20, 1)
    torch.testing.assert_close(aligned_box_iou(a, b), box_iou(a, b).diagonal())
    giou = MODELS.build(dict(type='GIoULoss', eps=1e-7, reduction='none'))
    torch.testing.assert_close(giou(a, b), generalized_box_iou_loss(a, b, eps=1e-7))
    assert float(giou(a, a).abs().max()) < 1e-6
    # disjoint boxes: GIoU loss > 1 (penalised by the empty part of the enclosing box)
    far = giou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[3.0, 0.0, 4.0, 1.0]]))
    torch.testing.assert_close(far, torch.tensor([1.5]))


def test_iou_loss_modes_and_reduction():
    a, b = _boxes(8, 2), _boxes(8, 3)
    iou = box_iou(a, b).diagonal()
    for mode, ref in [('linear', 1 - iou), ('square', 1 - iou ** 2), ('log', -iou.clamp(min=1e-6).log())]:
        loss = MODELS.build(dict(type='IoULoss', mode=mode, loss_weight=2.0))
        torch.testing.assert_close(loss(a, b), 2 * ref.mean())
    w = torch.rand(8)
    loss = MODELS.build(dict(type='GIoULoss'))
    torch.testing.assert_close(loss(a, b, weight=w, avg_factor=w.sum()),
                               (generalized_box_iou_loss(a, b) * w).sum() / w.sum(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(dict(type='IoULoss', mode='cubic'))
    with pytest.raises(ValueError, match='N x 4'):
        loss(a, b[:, :3])


def test_degenerate_and_empty_boxes_are_finite():
    pred = torch.tensor([[5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 2.0, 2.0]], requires_grad=True)
    target = torch.tensor([[5.0, 5.0, 5.0, 5.0], [10.0, 10.0, 12.0, 12.0]])
    for cfg in (dict(type='GIoULoss'), dict(type='IoULoss', mode='log')):
        value = MODELS.build(cfg)(pred, target)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(pred.grad).all()
        pred.grad = None
    empty = torch.zeros(0, 4, requires_grad=True)
    zero = MODELS.build(dict(type='GIoULoss'))(empty, torch.zeros(0, 4), avg_factor=1.0)
    assert float(zero.detach()) == 0 and zero.requires_grad
