"""MaxIoUAssigner's ignored gt regions (ignore_iof_thr) and their plumbing through RetinaHead."""
from __future__ import annotations

import torch

from conftest import det_batch, tiny_retinanet
from visioncraft.registry import MODELS
from visioncraft.structures import InstanceData
from visioncraft.tasks.detection.models import AssignResult, MaxIoUAssigner
from visioncraft.tasks.detection.models.box_ops import box_iof

NEG, IGN = AssignResult.NEGATIVE, AssignResult.IGNORE


def test_box_iof_is_intersection_over_the_box_area():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 25.0], [50.0, 50.0, 50.0, 60.0]])
    regions = torch.tensor([[0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 10.0, 15.0]])
    expected = torch.tensor([[1.0, 1.0], [1.0, 50 / 200], [0.0, 0.0]])  # a zero-area box has IoF 0
    torch.testing.assert_close(box_iof(boxes, regions), expected)


def _anchors():
    return torch.tensor([
        [100.0, 100.0, 120.0, 120.0],  # 0: inside the crowd region, IoF 1 -> ignored
        [130.0, 100.0, 170.0, 120.0],  # 1: half in the crowd region (IoF 0.5, not > 0.5) -> stays negative
        [150.0, 100.0, 190.0, 140.0],  # 2: the real gt box exactly, also inside the crowd -> stays positive
        [0.0, 0.0, 20.0, 20.0],        # 3: far from everything -> negative
        [148.0, 98.0, 192.0, 142.0],   # 4: IoU 0.83 with the gt: positive
        [160.0, 90.0, 200.0, 150.0],   # 5: IoU ~0.42 with the gt: between the thresholds -> ignored anyway
    ])


def test_ignore_iof_thr_ignores_negatives_on_ignored_regions():
    gt = torch.tensor([[150.0, 100.0, 190.0, 140.0]])
    crowd = torch.tensor([[90.0, 90.0, 150.0, 200.0], [140.0, 90.0, 200.0, 200.0]])
    assigner = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.4, ignore_iof_thr=0.5)
    plain = assigner.assign(_anchors(), gt)  # no ignored boxes: the old behaviour
    assert plain.gt_inds.tolist() == [NEG, NEG, 0, NEG, 0, IGN]
    res = assigner.assign(_anchors(), gt, gt_bboxes_ignore=crowd[:1])
    assert res.gt_inds.tolist() == [IGN, NEG, 0, NEG, 0, IGN]
    # the second crowd box covers anchors 2, 4, 5 completely: positives stay positive
    res = assigner.assign(_anchors(), gt, gt_bboxes_ignore=crowd)
    assert res.gt_inds.tolist() == [IGN, IGN, 0, NEG, 0, IGN]  # anchor 1: IoF 0.75 with the second box
    torch.testing.assert_close(res.max_ious, plain.max_ious)
    # disabled (the default -1): ignored boxes change nothing
    off = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.4).assign(_anchors(), gt, gt_bboxes_ignore=crowd)
    assert torch.equal(off.gt_inds, plain.gt_inds)
    # an image with only crowd boxes: negatives in the region become ignored
    only_crowd = assigner.assign(_anchors(), torch.zeros(0, 4), gt_bboxes_ignore=crowd[:1])
    assert only_crowd.gt_inds.tolist() == [IGN, NEG, NEG, NEG, NEG, NEG]
    empty = assigner.assign(_anchors(), gt, gt_bboxes_ignore=torch.zeros(0, 4))
    assert torch.equal(empty.gt_inds, plain.gt_inds)


def _loss_cls(model, batch):
    return model(**model.data_preprocessor(batch, training=True), mode='loss')['loss_cls']


def test_retina_head_passes_ignored_instances_to_the_assigner():
    torch.manual_seed(0)
    cfg = tiny_retinanet(train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                                      min_pos_iou=0, ignore_iof_thr=0.5)))
    model = MODELS.build(cfg)
    crowd = InstanceData(bboxes=torch.tensor([[0.0, 32.0, 64.0, 64.0]]), labels=torch.tensor([1]))
    batch, crowded = det_batch(n=1), det_batch(n=1)
    crowded['data_samples'][0].ignored_instances = crowd
    calls = []
    assign = model.bbox_head.assigner.assign

    def spy(anchors, gt_bboxes, gt_bboxes_ignore=None):
        calls.append(gt_bboxes_ignore)
        return assign(anchors, gt_bboxes, gt_bboxes_ignore=gt_bboxes_ignore)

    model.bbox_head.assigner.assign = spy
    with torch.no_grad():
        base, ignored = _loss_cls(model, batch), _loss_cls(model, crowded)
    assert calls[0] is None and torch.equal(calls[1], crowd.bboxes)
    # the anchors in the crowd region no longer count as background: a smaller classification loss
    assert float(ignored) < float(base)
    # an empty ignored_instances (what PackDetInputs gives images without crowd boxes) changes nothing
    batch2 = det_batch(n=1)
    batch2['data_samples'][0].ignored_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
    with torch.no_grad():
        torch.testing.assert_close(_loss_cls(model, batch2), base)


def test_assigner_without_ignore_argument_still_works():
    """A custom assigner with the old two-argument assign() keeps working on images without crowd boxes."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_retinanet())
    inner = model.bbox_head.assigner

    class OldAssigner:
        def assign(self, anchors, gt_bboxes):
            return inner.assign(anchors, gt_bboxes)

    model.bbox_head.assigner = OldAssigner()
    losses = model(**model.data_preprocessor(det_batch(), training=True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
