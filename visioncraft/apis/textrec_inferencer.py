"""MMOCR 1.x's ``TextRecInferencer``: a text recogniser reading the word in each image (a cropped word, a line),
over images, folders, URLs, videos and cameras, on :class:`~visioncraft.apis.base_inferencer.BaseInferencer`.

The model comes from a config file (ours, or a PaddleOCR YAML with ``model_type: rec``), a directory written by
``visioncraft export`` for a recogniser (CTC or attention), or a built model with its pipeline: see
:mod:`.textdet_inferencer` (:class:`~visioncraft.apis.textdet_inferencer.TextModelInferencer`).

Outputs, as MMOCR writes them: ``out_dir/preds/<image stem>.json`` with ``text`` (str, ``''`` when nothing is read)
and ``scores`` (float: the mean of the character scores, 0.0 for ``''``); the drawing (the image with the reading
written under it) is ``out_dir/vis/<image name>``.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from torch import nn

from visioncraft.errors import mark_user_error
from visioncraft.structures import DataSample
from visioncraft.tasks.textrecog.visualization import TextRecogLocalVisualizer

from .base_inferencer import InputItem
from .textdet_inferencer import TextModelInferencer

__all__ = ['TextRecInferencer']


class TextRecInferencer(TextModelInferencer):
    """Read the text in images (MMOCR 1.x's ``TextRecInferencer``).

    Args:
        model: a text-recognition config file (ours, or a PaddleOCR YAML with ``model_type: rec``), a
            :class:`Config`, a textrecog model name of the index (``'crnn'``; ``visioncraft models --task
            textrecog``: its weights download on first use without ``weights``), a directory written by
            ``visioncraft export`` for a recogniser, or a built recogniser
            (with ``pipeline``; it stays on its device unless ``device`` is given).
        weights: the checkpoint of a config (path or http(s) URL); None keeps random weights (with a warning), or
            for a PaddleOCR YAML takes ``Global.checkpoints`` / ``Global.pretrained_model``.
        device: ``None`` / ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda[:N]'``.
        show_progress: a progress bar on stderr.
        pipeline: with a built model, its test pipeline (transform configs; annotation loading is dropped).
        cfg_options: config overrides (``--cfg-options``; for a PaddleOCR YAML its keys, as ``-o``).
        backend: ``'onnxruntime'`` or ``'torchscript'``, for an exported directory.

    ``inferencer(inputs, ...)`` returns ``{'predictions': [{'text', 'scores'}, ...], 'visualization': [...]}`` (see
    :meth:`__call__`).
    """

    who = 'TextRecInferencer'
    exported_task = 'textrecog'
    paddleocr_model_type = 'rec'
    what = 'text recogniser'

    def make_visualizer(self) -> TextRecogLocalVisualizer:
        return TextRecogLocalVisualizer(name='textrec_inferencer')

    def check_model(self, model: nn.Module) -> None:
        if not hasattr(model, 'decoder'):
            raise mark_user_error(ValueError(f'TextRecInferencer: the model ({type(model).__name__}) is not a text '
                                             'recogniser (no decoder)'))

    def forward(self, batch: list[Any]) -> list[DataSample]:
        """One :class:`DataSample` per image with ``pred_text`` (str) and ``pred_score`` (float, the mean of the
        character scores) and ``img_path`` in its metainfo: ``model.test_step`` on the batch, or the exported
        predictor on it (both pad the batch's images on the right to the widest, as the config's
        data preprocessor does)."""
        if self.predictor is None:
            return self.test_step(batch)
        read = self.predictor.predict([item.numpy() for item in batch])
        return [DataSample(metainfo=dict(img_path=item.path), pred_text=str(text), pred_score=float(score))
                for item, (text, score, *_) in zip(batch, read)]

    def visualize(self, img: np.ndarray, pred: DataSample, *, draw_pred: bool = True) -> np.ndarray:
        """``img`` (H x W x 3 uint8 BGR) with the reading and its score written under it: H' x W' x 3 uint8 RGB
        (enlarged to at least 64 pixels high, widened when the text needs room)."""
        return self.visualizer.draw_sample(np.ascontiguousarray(img[..., ::-1]), pred, draw_gt=False,
                                           draw_pred=draw_pred)

    def pred_to_json(self, pred: DataSample, item: InputItem) -> dict[str, Any]:
        """MMOCR's prediction dict: ``text`` and ``scores`` (one float)."""
        return dict(text=str(pred.get('pred_text', '')), scores=float(pred.get('pred_score', 0.0)))

    # -- MMOCR's call -----------------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, batch_size: int = 1, return_vis: bool = False, show: bool = False,
                 wait_time: float = 0, no_save_vis: bool = False, draw_pred: bool = True,
                 return_datasamples: bool = False, print_result: bool = False, no_save_pred: bool = True,
                 out_dir: str | os.PathLike = '', *, video_out: str | os.PathLike | None = None,
                 max_frames: int | None = None) -> dict[str, list]:
        """Read the text in ``inputs``.

        Args:
            inputs: an image file, an H x W x 3 uint8 BGR array, a folder, a glob pattern, an ``http(s)://`` image
                URL, a list of those, a video file, ``'webcam'`` or a camera index.
            batch_size: images per forward pass. A recogniser whose test pipeline does not pad every image to one
                width (``PadToWidth``) and that has a bidirectional LSTM sees the right padding of its batch, so
                its reading of an image can depend on the images batched with it.
            return_vis: put the drawings (H' x W' x 3 uint8 RGB) in ``'visualization'``.
            show / wait_time: show each drawing in a window for ``wait_time`` seconds (0: until a key); never
                without a display (a warning says so).
            no_save_vis / no_save_pred: do not write the drawings / the JSON files (no JSON by default:
                ``no_save_pred=True``).
            draw_pred: write the reading under the image.
            return_datasamples: ``'predictions'`` holds the :class:`DataSample` s instead of dicts.
            print_result: print each image's prediction dict.
            out_dir: ``out_dir/preds/`` and ``out_dir/vis/`` (``''``: nothing written).
            video_out: for a video or camera, where the drawn video goes (default ``out_dir/vis/<video name>``).
            max_frames: stop a video or camera after this many frames.

        Returns:
            ``{'predictions': [{'text', 'scores'} per image or frame], 'visualization': [drawings] (empty without
            return_vis)}``.
        """
        return self.run_all(inputs, out_dir=out_dir, no_save_pred=no_save_pred, no_save_vis=no_save_vis,
                            batch_size=batch_size, video_out=video_out, return_vis=return_vis,
                            return_datasamples=return_datasamples, print_result=print_result, show=show,
                            wait_time=wait_time, max_frames=max_frames,
                            visualize_kwargs=dict(draw_pred=draw_pred))
