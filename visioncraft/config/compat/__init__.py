"""Readers for other toolboxes' config layouts, onto the internal :class:`~visioncraft.config.Config`.

:mod:`.paddleocr`: PaddleOCR-layout YAML (``Global`` + ``Architecture``).
"""
