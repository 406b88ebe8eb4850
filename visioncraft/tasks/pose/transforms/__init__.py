"""Top-down pose transforms: bbox centre/scale, flip, bbox jitter, affine, targets, keypoint conversion, pack."""
