"""Readers for other toolboxes' config layouts, onto the internal :class:`~visioncraft.config.Config`.

:mod:`.paddleocr`: PaddleOCR-layout YAML (``Global`` + ``Architecture``).
:mod:`.mmdet2`: MMDetection 2.x configs (``data=``, ``evaluation=``, ``lr_config=``, ...), translated by
:meth:`Config.fromfile <visioncraft.config.Config.fromfile>`.
"""
