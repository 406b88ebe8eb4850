"""Text-recognition transforms (height rescale, width pad, PaddleOCR resize, augmentation, packing)."""
from .recog_transforms import (PackTextRecogInputs, PadToWidth, RandomBrightnessContrast,  # noqa: F401
                               RandomGaussianBlur, RecResizeImg, RescaleToHeight)
from .recog_augment import CropHeight, ImageContentJitter, ReversePixels, TextRecogGeneralAug  # noqa: F401
