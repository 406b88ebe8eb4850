"""Keypoint codecs: encode training targets from keypoints, decode predictions back to keypoints."""
