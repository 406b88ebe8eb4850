"""Text-detection metrics."""
from .hmean_iou_metric import HmeanIOUMetric, count_matches, polygon_iou_matrix  # noqa: F401
