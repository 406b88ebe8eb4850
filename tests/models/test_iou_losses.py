"""The IoU-family losses (IoU, GIoU, DIoU, CIoU, bounded IoU): values against torchvision and hand-computed cases,
reductions, weights, degenerate boxes."""
from __future__ import annotations

import math

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


# -- DIoU / CIoU / bounded IoU and the must-hold cases of the whole family ---------------------------------
_FAMILY = ('IoULoss', 'GIoULoss', 'DIoULoss', 'CIoULoss', 'BoundedIoULoss')


@pytest.mark.parametrize('name', _FAMILY)
def test_identical_boxes_give_zero_loss_and_finite_gradients(name):
    boxes = _boxes(6, 4)
    pred = boxes.clone().requires_grad_(True)
    loss = MODELS.build(dict(type=name, reduction='none'))(pred, boxes)
    loss.sum().backward()
    # BoundedIoU's eps (1e-3) leaves a term of order eps^2 / beta for identical boxes
    assert float(loss.detach().abs().max()) < (1e-5 if name == 'BoundedIoULoss' else 1e-6)
    assert torch.isfinite(pred.grad).all()


def test_disjoint_boxes_known_values():
    a, b = torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[3.0, 0.0, 4.0, 1.0]])  # IoU 0, gap of 2
    # enclosing box 4 x 1 (area 4, diagonal^2 17), union 2, centres 3 apart
    expect = {('IoULoss', 'linear'): 1.0, ('IoULoss', 'log'): -math.log(1e-6), ('GIoULoss', None): 1 + 2 / 4,
              ('DIoULoss', None): 1 + 9 / 17, ('CIoULoss', None): 1 + 9 / 17}
    for (name, mode), value in expect.items():
        cfg = dict(type=name, reduction='none', **({'mode': mode} if mode else {}))
        torch.testing.assert_close(MODELS.build(cfg)(a, b), torch.tensor([value]), rtol=1e-5, atol=1e-5)
    # bounded IoU: dx term saturates at 1 (smooth L1 -> 1 - beta / 2), the others only see eps
    beta, eps = 0.2, 1e-3
    small = 1 - 1 / (1 + eps)  # dy = 0 and equal sizes: 1 - 1 / (1 + eps)
    expect_b = torch.tensor([[1 - beta / 2] + [0.5 * small ** 2 / beta] * 3])
    torch.testing.assert_close(MODELS.build(dict(type='BoundedIoULoss', reduction='none'))(a, b), expect_b)


def test_ciou_aspect_term_hand_computed():
    target, pred = torch.tensor([[0.0, 0.0, 4.0, 4.0]]), torch.tensor([[0.0, 0.0, 4.0, 3.0]])
    iou, dist = 12 / 16, 0.25 / 32  # centres (2, 2) / (2, 1.5); enclosing box 4 x 4
    v = 4 / math.pi ** 2 * (math.atan(1.0) - math.atan(4 / 3)) ** 2
    alpha = v / (1 - iou + v)  # IoU > 0.5: the aspect term counts
    got = MODELS.build(dict(type='CIoULoss', reduction='none'))(pred, target)
    torch.testing.assert_close(got, torch.tensor([1 - (iou - dist - alpha * v)]), rtol=1e-5, atol=1e-5)
    diou = MODELS.build(dict(type='DIoULoss', reduction='none'))(pred, target)
    torch.testing.assert_close(diou, torch.tensor([1 - iou + dist]), rtol=1e-5, atol=1e-5)
    # below IoU 0.5 alpha is 0: CIoU equals DIoU
    far = torch.tensor([[0.0, 0.0, 4.0, 1.0]])
    torch.testing.assert_close(MODELS.build(dict(type='CIoULoss', reduction='none'))(far, target),
                               MODELS.build(dict(type='DIoULoss', reduction='none'))(far, target))


def test_diou_matches_torchvision_and_weights():
    from torchvision.ops import distance_box_iou_loss
    a, b = _boxes(20, 5), _boxes(20, 6)
    diou = MODELS.build(dict(type='DIoULoss', eps=1e-7, reduction='none'))
    torch.testing.assert_close(diou(a, b), distance_box_iou_loss(a, b, eps=1e-7))
    # an N x 4 weight is averaged to N for the per-box losses; BoundedIoU takes N (broadcast) or N x 4
    w4 = torch.rand(20, 4)
    for name in ('GIoULoss', 'CIoULoss'):
        loss = MODELS.build(dict(type=name))
        torch.testing.assert_close(loss(a, b, weight=w4, avg_factor=3.0),
                                   loss(a, b, weight=w4.mean(-1), avg_factor=3.0))
    bounded = MODELS.build(dict(type='BoundedIoULoss', loss_weight=2.0))
    w = torch.rand(20)
    torch.testing.assert_close(bounded(a, b, weight=w, avg_factor=5.0),
                               2.0 * (bounded.elementwise(a, b) * w[:, None]).sum() / 5.0)
    assert MODELS.build(dict(type='IoULoss', linear=True)).mode == 'linear'
