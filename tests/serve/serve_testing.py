"""What the serve tests share: the detection quickstart's model with fixed, seeded weights that always find boxes,
the tiny OCR models (saved trained weights), small encoded pictures, and fake models that record their batches."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from conftest import REPO, TINY_CRNN, TINY_DBNET, TINY_DBNET_TEST_PIPELINE, WEIGHTS_DIR

DET_SHAPES = REPO / 'configs' / 'quickstart' / 'det_shapes.py'
POSE_SYNTH = REPO / 'configs' / 'quickstart' / 'pose_synth.py'
SHAPE_CLASSES = ['circle', 'square', 'triangle', 'star']
# every crop padded to 160 (the OCR tests' recogniser pipeline)
REC_TEST_PIPELINE = [dict(type='LoadImageFromFile', color_type='grayscale'),
                     dict(type='RescaleToHeight', height=32, min_width=32, max_width=160, width_divisor=4),
                     dict(type='PadToWidth', width=160),
                     dict(type='LoadOCRAnnotations', with_text=True),
                     dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))]


def det_shapes_checkpoint(path: Path) -> Path:
    """A checkpoint of ``configs/quickstart/det_shapes.py``: seeded random weights, with the classifier's bias
    raised so that every anchor scores about 0.73 (the config keeps the 50 best after NMS): boxes on any picture."""
    from visioncraft.config import Config
    from visioncraft.registry import MODELS
    cfg = Config.fromfile(str(DET_SHAPES))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.fill_(1.0)
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': SHAPE_CLASSES}}}, path)
    return path


def pose_checkpoint(path: Path) -> Path:
    """A checkpoint of ``configs/quickstart/pose_synth.py`` with seeded random weights."""
    from visioncraft.config import Config
    from visioncraft.registry import MODELS, default_scope
    cfg = Config.fromfile(str(POSE_SYNTH))
    torch.manual_seed(0)
    with default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def text_model_files(root: Path) -> dict[str, Path]:
    """Config files and checkpoints of the tiny DBNet and CRNN (tests/data/weights): ``det_cfg``, ``det_ckpt``,
    ``rec_cfg``, ``rec_ckpt``."""
    from visioncraft.config import Config
    out = {}
    for role, model, pipeline, weights in (('det', TINY_DBNET, TINY_DBNET_TEST_PIPELINE, 'tiny_dbnet'),
                                           ('rec', TINY_CRNN, REC_TEST_PIPELINE, 'tiny_crnn')):
        ds = dict(type='OCRDataset', data_root=str(root), ann_file='unused.json', test_mode=True, pipeline=pipeline)
        cfg = dict(model=model, test_dataloader=dict(batch_size=1, num_workers=0, dataset=ds,
                                                     sampler=dict(type='DefaultSampler', shuffle=False)))
        Config(cfg).dump(root / f'{role}.py')
        state = torch.load(WEIGHTS_DIR / f'{weights}.pth', map_location='cpu', weights_only=True)
        torch.save({'state_dict': state, 'meta': {'dataset_meta': {'classes': ['text']}}}, root / f'{role}.pth')
        out[f'{role}_cfg'], out[f'{role}_ckpt'] = root / f'{role}.py', root / f'{role}.pth'
    return out


def shapes_picture(h: int = 128, w: int = 160) -> np.ndarray:
    """A BGR picture of a few filled shapes on a grey gradient (what the quickstart detector is for)."""
    img = np.tile(np.linspace(90, 170, w, dtype=np.uint8)[None, :, None], (h, 1, 3)).copy()
    cv2.circle(img, (40, 40), 18, (30, 60, 220), -1)
    cv2.rectangle(img, (90, 20), (130, 60), (40, 200, 40), -1)
    pts = np.array([[30, 110], [60, 70], [85, 115]], np.int32)
    cv2.fillPoly(img, [pts], (220, 120, 30))
    return img


def text_picture(words=('hello', 'serve', 'ocr42')) -> np.ndarray:
    """A BGR picture of dark words on a light background."""
    img = np.full((128, 192, 3), 235, np.uint8)
    for i, word in enumerate(words):
        cv2.putText(img, word, (12, 34 + 38 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2, cv2.LINE_AA)
    return img


def encode(img: np.ndarray, ext: str = '.png') -> bytes:
    ok, data = cv2.imencode(ext, img)
    assert ok
    return data.tobytes()


def grey_png(value: int, h: int = 10, w: int = 12) -> bytes:
    """A PNG of one grey ``value``: a fake model's answer (the mean pixel) says which image it got."""
    return encode(np.full((h, w, 3), value, np.uint8))


class RecordingModel:
    """A fake served model: answers ``{"mean": mean pixel}`` per image and records each batch's size. With
    ``block=True`` its first call waits for :attr:`release` (set :attr:`entered` first); images of the grey value
    ``fail_value`` make it raise."""

    def __init__(self, name: str = 'fake', *, block: bool = False, delay: float = 0.0, fail_value: int | None = None):
        from visioncraft.serve.models import ServedModel

        outer = self

        class _Model(ServedModel):
            def predict(self, images):
                return outer.predict(images)

        self.model = _Model(name, 'detection', ['thing'])
        self.sizes: list[int] = []
        self.block, self.delay, self.fail_value = block, delay, fail_value
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, images):
        self.sizes.append(len(images))
        if self.block and len(self.sizes) == 1:
            self.entered.set()
            assert self.release.wait(30), 'the test never released the blocked model'
        if self.delay:
            time.sleep(self.delay)
        means = [float(img.mean()) for img in images]
        if self.fail_value is not None and any(round(m) == self.fail_value for m in means):
            raise ValueError(f'cannot handle grey {self.fail_value}')
        return [dict(mean=m) for m in means]
