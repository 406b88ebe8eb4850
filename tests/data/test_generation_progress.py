"""Dataset generation says what it does: a line when it starts, one every few seconds, one at the end; nothing
when the dataset is already there."""
from __future__ import annotations

import contextlib
import logging

from visioncraft.data.synthetic import GenerationProgress
from visioncraft.data.synthetic.det_shapes import generate_det_shapes


@contextlib.contextmanager
def info_lines():
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger('visioncraft')
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_progress_lines_follow_the_clock():
    now = [100.0]
    with info_lines() as lines:
        progress = GenerationProgress('data/x', 10, every_s=5.0, clock=lambda: now[0])
        for t in (1.0, 2.0, 6.0, 7.0, 12.0, 13.0, 14.0, 20.0, 21.0, 30.0):  # seconds since the start, per image
            now[0] = 100.0 + t
            progress.step()
        progress.finish()
    assert lines == ['generating data/x: 10 images (once; later runs reuse them)',
                     'generating data/x: 3/10 images (30 %)',
                     'generating data/x: 5/10 images (50 %)',
                     'generating data/x: 8/10 images (80 %)',
                     'generated data/x: 10 images in 30.0 s']


def test_generation_logs_start_and_end_and_reuse_is_silent(tmp_path):
    root = tmp_path / 'shapes'
    with info_lines() as lines:
        generate_det_shapes(root, num_train=3, num_val=2, image_size=(32, 32), object_size=(6, 12))
    assert lines[0] == f'generating {root}: 5 images (once; later runs reuse them)'
    assert lines[-1].startswith(f'generated {root}: 5 images in ')
    with info_lines() as again:
        generate_det_shapes(root, num_train=3, num_val=2, image_size=(32, 32), object_size=(6, 12))
    assert again == []
