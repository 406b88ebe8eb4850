"""Pose datasets (COCO, AI Challenger, MPII, synthetic people), dataset metainfo, CombinedDataset."""
