"""Text-detection metrics, and the end-to-end (text spotting) hmean built on the same matching."""
from .hmean_iou_metric import HmeanIOUMetric, count_matches, match_pairs, polygon_iou_matrix  # noqa: F401
from .e2e_hmean_iou_metric import E2EHmeanIOUMetric, e2e_text_match  # noqa: F401
