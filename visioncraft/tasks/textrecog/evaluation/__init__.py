"""Text recognition evaluation: word / character / 1-N.E.D metrics (the end-to-end spotting hmean,
which only needs the detection matching, lives in visioncraft.tasks.textdet.evaluation)."""
from .recog_metric import (CharMetric, OneMinusNEDMetric, WordMetric, matched_chars,  # noqa: F401
                           normalize_text)
