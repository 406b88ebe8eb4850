"""Text-detection models: DBNet (FPNC neck, DBHead, DBLoss)."""
from .db_head import DBHead
from .data_preprocessor import TextDetDataPreprocessor
from .db_loss import DBLoss
from .dbnet import DBNet
from .fpnc import FPNC, ScaleChannelSpatialAttention

__all__ = ['DBHead', 'DBLoss', 'DBNet', 'FPNC', 'ScaleChannelSpatialAttention',
           'TextDetDataPreprocessor']
from .rsefpn import RSEFPN, RSELayer  # noqa: E402  (PP-OCRv4 neck)

__all__ += ['RSEFPN', 'RSELayer']
