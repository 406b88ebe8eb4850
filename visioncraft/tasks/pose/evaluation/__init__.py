"""Pose metrics: COCO keypoint OKS AP/AR, PCK, AUC, EPE, NME."""
