"""Pose metrics: COCO keypoint OKS AP/AR, PCK, AUC, EPE, NME."""
from .coco_metric import CocoPoseMetric
from .keypoint_2d_metrics import AUC, EPE, NME, PCKAccuracy
from .keypoint_eval import keypoint_auc, keypoint_epe, keypoint_nme, keypoint_pck_accuracy
from .nms import oks_iou, oks_matrix, oks_nms, soft_oks_nms

__all__ = ['CocoPoseMetric', 'PCKAccuracy', 'AUC', 'EPE', 'NME', 'keypoint_pck_accuracy', 'keypoint_auc',
           'keypoint_epe', 'keypoint_nme', 'oks_iou', 'oks_matrix', 'oks_nms', 'soft_oks_nms']
