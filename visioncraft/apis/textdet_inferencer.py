"""MMOCR 1.x's ``TextDetInferencer``: a text detector over images, folders, URLs, videos and cameras, on
:class:`~visioncraft.apis.base_inferencer.BaseInferencer`; and :class:`TextModelInferencer`, what it shares with
:class:`~visioncraft.apis.TextRecInferencer` (:mod:`.textrec_inferencer`): where the model comes from.

A text model comes from

* a config file: ours (``.py``, ``.json``, ``.yaml``) with ``weights``, or a PaddleOCR-layout YAML (translated by
  :meth:`Config.fromfile <visioncraft.config.Config.fromfile>`, ``cfg_options`` naming its PaddleOCR keys; its
  weights default to ``Global.checkpoints``, else ``Global.pretrained_model``, and its Eval transforms are the
  pipeline);
* a model name of the index (:mod:`visioncraft.model_index`): its shipped config, and its weights downloaded on first
  use when none are given;
* a directory written by ``visioncraft export`` (its predictor runs it; no config, no weights);
* a model already built, with its test pipeline (``model=nn.Module, pipeline=[transform configs]``): how
  PaddleOCR's ``tools/infer_det.py`` / ``infer_rec.py`` (:mod:`visioncraft.cli.paddle_tools`) hand over what they
  resolved from their YAML and ``-o`` options.

Outputs, as MMOCR writes them: ``out_dir/preds/<image stem>.json`` with ``polygons`` (one flat ``[x0, y0, x1, y1,
...]`` list per text region, float, ORIGINAL-image pixels) and ``scores`` (one float per region), every region the
model returned (``pred_score_thr`` only decides what is drawn); the drawing is ``out_dir/vis/<image name>``.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from visioncraft.config import Config
from visioncraft.data.collate import pseudo_collate
from visioncraft.data.transforms import Compose
from visioncraft.errors import mark_user_error
from visioncraft.fileio.checkpoint import resolve_checkpoint_alias
from visioncraft.structures import DataSample, InstanceData, to_numpy
from visioncraft.tasks.textdet.visualization import TextDetLocalVisualizer

from .base_inferencer import BaseInferencer, InputItem
from .inference_pipeline import inference_steps
from .inputs import is_url
from .model_index import resolve_config_arg
from .model_loading import build_model_with_weights, is_exported_dir, load_exported

__all__ = ['TextModelInferencer', 'TextDetInferencer']


def _model_device(model: nn.Module) -> str:
    for p in model.parameters():
        return str(p.device)
    return 'cpu'


class TextModelInferencer(BaseInferencer):
    """Where a text model comes from (see the module docstring), for :class:`TextDetInferencer` and
    :class:`~visioncraft.apis.TextRecInferencer`; they add what runs, draws and is written.

    Attributes set here: ``model`` (the built model, None for an export) and ``predictor`` (an export's predictor,
    else None); for a model, ``pipelines``: the test pipeline reading image files (what ``visioncraft test`` and
    PaddleOCR's tools run) and the one taking in-memory arrays (arrays, URLs, video frames).
    """

    #: the ``task`` of the exported models this inferencer runs (``inference.json``)
    exported_task = ''
    #: ``Architecture.model_type`` of the PaddleOCR YAMLs it runs
    paddleocr_model_type = ''
    #: what the model is, in messages
    what = 'text model'
    frame_doc_key = None

    def __init__(self, model: str | os.PathLike | Config | nn.Module | None = None,
                 weights: str | os.PathLike | None = None, device: str | None = None, show_progress: bool = True, *,
                 pipeline: Sequence[dict] | None = None, cfg_options: dict | None = None,
                 backend: str = 'onnxruntime') -> None:
        if isinstance(model, nn.Module) and device is None:
            device = _model_device(model)  # a built model stays where it is unless a device is asked for
        super().__init__(device, show_progress)
        if model is None:
            raise mark_user_error(ValueError(f'{self.who}: give model=CONFIG (a config file or a PaddleOCR YAML), an '
                                             f'exported model directory, or a built model with pipeline='))
        self.model: nn.Module | None = None
        self.predictor = None
        if isinstance(model, nn.Module):
            if weights is not None:
                raise mark_user_error(ValueError(f'{self.who}: weights={weights} given with a built model: load them '
                                                 'into it first'))
            if pipeline is None:
                raise mark_user_error(ValueError(f'{self.who}: a built model needs pipeline= (its test pipeline: a '
                                                 'list of transform configs)'))
            self._use_model(model, pipeline)
        elif is_exported_dir(model):
            if weights is not None:
                raise mark_user_error(ValueError(f'{self.who}: weights={weights} given with the exported model '
                                                 f'directory {model}: an export holds its own weights'))
            self.predictor = load_exported(model, (self.exported_task,), self.what, self.who, self.device, backend)
        else:
            self._use_model(*self._build(model, weights, cfg_options))
        self.visualizer = self.make_visualizer()

    def make_visualizer(self) -> Any:
        """The visualizer that draws the predictions (:meth:`visualize`)."""
        raise NotImplementedError(f'{type(self).__name__} must implement make_visualizer()')

    # -- building -------------------------------------------------------------------------------------------------
    def _build(self, model: str | os.PathLike | Config, weights: str | os.PathLike | None,
               cfg_options: dict | None) -> tuple[nn.Module, list[dict]]:
        """``(model with its weights, test pipeline steps)`` from a config file or a :class:`Config`."""
        if isinstance(model, (str, os.PathLike)):  # a model name of the index: its config, its weights downloaded
            model, weights = resolve_config_arg(model, weights, task=self.exported_task)
        if isinstance(model, Config):
            cfg = copy.deepcopy(model)
            if cfg_options:
                cfg.merge_from_dict(cfg_options)
        elif not Path(model).is_file():
            raise FileNotFoundError(f'{self.who}: model: no such config file or exported model directory: {model}')
        else:  # a PaddleOCR-layout YAML is translated, cfg_options naming its PaddleOCR keys (as -o)
            cfg = Config.fromfile(model, cfg_options or None)
        pd = cfg.get('paddleocr')
        if pd:
            if pd['model_type'] != self.paddleocr_model_type:
                raise mark_user_error(ValueError(
                    f'{self.who}: {pd["file"]}: Architecture.model_type is {pd["model_type"]!r}; a {self.what} '
                    f'has {self.paddleocr_model_type!r}'))
            if not pd['inference_pipeline']:
                raise mark_user_error(ValueError(f'{self.who}: {pd["file"]} has no Eval section (its transforms '
                                                 'make the inference pipeline)'))
            if weights is None:
                weights = pd['checkpoints'] or pd['pretrained_model']
            steps = [dict(s) for s in pd['inference_pipeline']]
        else:
            try:
                steps = [dict(s) for s in cfg.test_dataloader.dataset.pipeline]
            except (AttributeError, KeyError, TypeError):
                raise mark_user_error(KeyError(f'{self.who}: the config {cfg.filename or ""} has no '
                                               'test_dataloader.dataset.pipeline')) from None
        if weights is not None and not is_url(str(weights)) \
                and not Path(resolve_checkpoint_alias(str(weights))).is_file():
            raise FileNotFoundError(f'{self.who}: weights: checkpoint file not found: {weights}')
        built, _ = build_model_with_weights(cfg, None if weights is None else str(weights), self.who)
        built.cfg = cfg
        return built, steps

    def _use_model(self, model: nn.Module, steps: Sequence[dict]) -> None:
        self.check_model(model)
        self.model = model.to(self.device).eval()
        # both pipelines drop annotation loading; the array one reads the image from memory
        holder = Config(dict(test_dataloader=dict(dataset=dict(pipeline=[dict(s) for s in steps]))))
        self.pipelines = {from_array: Compose(inference_steps(holder, self.who, from_array))
                          for from_array in (False, True)}

    def check_model(self, model: nn.Module) -> None:
        """A clear error when ``model`` is not the kind of model this inferencer runs."""

    # -- the task's part --------------------------------------------------------------------------------------------
    def preprocess(self, item: InputItem) -> Any:
        """The packed inputs of the test pipeline (from the file for a local image file, so the result is what
        ``visioncraft test`` gives; from memory for arrays, URLs and frames), or the item itself for an export."""
        if self.predictor is not None:
            return item
        if item.path is not None and not is_url(item.path) and Path(item.path).is_file():
            packed = self.pipelines[False](dict(img_path=item.path))
        else:
            packed = self.pipelines[True](dict(img=item.numpy(), img_path=item.path))
        if packed is None:
            raise RuntimeError(f'{self.who}: the test pipeline dropped {item.name}')
        return packed, item

    def test_step(self, batch: list[Any]) -> list[DataSample]:
        """``model.test_step`` on a batch of :meth:`preprocess` outputs (``img_path`` in each one's metainfo)."""
        with torch.no_grad():
            out = list(self.model.test_step(pseudo_collate([packed for packed, _ in batch])))
        for sample, (_, item) in zip(out, batch):
            sample.set_metainfo(dict(img_path=item.path))
        return out


class TextDetInferencer(TextModelInferencer):
    """Detect text in images, folders, URLs, videos and cameras (MMOCR 1.x's ``TextDetInferencer``).

    Args:
        model: a text-detection config file (ours, or a PaddleOCR YAML with ``model_type: det``), a
            :class:`Config`, a textdet model name of the index (``'dbnet_resnet18'``; ``visioncraft models --task
            textdet``: its weights download on first use without ``weights``), a directory written by
            ``visioncraft export`` for a text detector, or a built detector
            (with ``pipeline``; it stays on its device unless ``device`` is given).
        weights: the checkpoint of a config (path or http(s) URL); None keeps random weights (with a warning), or
            for a PaddleOCR YAML takes ``Global.checkpoints`` / ``Global.pretrained_model``.
        device: ``None`` / ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda[:N]'``.
        show_progress: a progress bar on stderr.
        pipeline: with a built model, its test pipeline (transform configs, as a config's
            ``test_dataloader.dataset.pipeline``; annotation loading is dropped).
        cfg_options: config overrides (``--cfg-options``; for a PaddleOCR YAML its keys, as ``-o``).
        backend: ``'onnxruntime'`` or ``'torchscript'``, for an exported directory.

    ``inferencer(inputs, ...)`` returns ``{'predictions': [...], 'visualization': [...]}`` (see :meth:`__call__`).
    """

    who = 'TextDetInferencer'
    exported_task = 'textdet'
    paddleocr_model_type = 'det'
    what = 'text detector'

    def make_visualizer(self) -> TextDetLocalVisualizer:
        return TextDetLocalVisualizer(name='textdet_inferencer', min_draw_size=0)

    def check_model(self, model: nn.Module) -> None:
        if not hasattr(model, 'det_head'):
            raise mark_user_error(ValueError(f'TextDetInferencer: the model ({type(model).__name__}) is not a text '
                                             'detector (no det_head)'))

    def forward(self, batch: list[Any]) -> list[DataSample]:
        """One :class:`DataSample` per image with ``pred_instances``: ``polygons`` (K flat float32 arrays ``[x0, y0,
        x1, y1, ...]``, original-image pixels) and ``scores`` (float32 K), and ``img_path`` in its metainfo:
        ``model.test_step`` on the batch (images padded to the largest), or the exported predictor per image."""
        if self.predictor is None:
            return self.test_step(batch)
        out = []
        for item in batch:
            polygons, scores = self.predictor(item.numpy())
            inst = InstanceData(polygons=[np.asarray(p, np.float32) for p in polygons],
                                scores=torch.as_tensor(np.asarray(scores, np.float32).reshape(-1)))
            out.append(DataSample(metainfo=dict(img_path=item.path), pred_instances=inst))
        return out

    def visualize(self, img: np.ndarray, pred: DataSample, *, draw_pred: bool = True,
                  pred_score_thr: float = 0.3) -> np.ndarray:
        """The regions scoring ``>= pred_score_thr`` drawn on ``img`` (H x W x 3 uint8 BGR): H x W x 3 uint8 RGB."""
        return self.visualizer.draw_sample(np.ascontiguousarray(img[..., ::-1]), pred, draw_gt=False,
                                           draw_pred=draw_pred, pred_score_thr=pred_score_thr)

    def pred_to_json(self, pred: DataSample, item: InputItem) -> dict[str, list]:
        """MMOCR's prediction dict: ``polygons`` (flat float lists), ``bboxes`` when the model gives them, and
        ``scores``."""
        if 'pred_instances' not in pred:
            return dict(polygons=[], scores=[])
        inst = pred.pred_instances
        doc: dict[str, list] = dict(polygons=[np.asarray(to_numpy(p), np.float32).reshape(-1).tolist()
                                              for p in (inst.get('polygons') or [])])
        if inst.get('bboxes') is not None:
            doc['bboxes'] = np.asarray(to_numpy(inst.bboxes), np.float32).reshape(-1, 4).tolist()
        doc['scores'] = np.asarray(to_numpy(inst.scores), np.float32).reshape(-1).tolist()
        return doc

    def nothing_drawn(self, pred: DataSample, *, draw_pred: bool = True,
                      pred_score_thr: float = 0.3) -> tuple[str, float | None] | None:
        inst = pred.get('pred_instances')
        scores = np.zeros(0) if inst is None or inst.get('scores') is None else to_numpy(inst.scores).reshape(-1)
        if len(scores) and float(scores.max()) >= pred_score_thr:
            return None
        if not len(scores):
            return 'no text found', None
        return f'no text region scores >= pred_score_thr={pred_score_thr:g} ({len(scores)} regions)', \
            float(scores.max())

    # -- MMOCR's call -----------------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, batch_size: int = 1, return_vis: bool = False, show: bool = False,
                 wait_time: float = 0, no_save_vis: bool = False, draw_pred: bool = True,
                 return_datasamples: bool = False, print_result: bool = False, no_save_pred: bool = True,
                 out_dir: str | os.PathLike = '', *, pred_score_thr: float = 0.3,
                 video_out: str | os.PathLike | None = None, max_frames: int | None = None) -> dict[str, list]:
        """Detect text in ``inputs``.

        Args:
            inputs: an image file, an H x W x 3 uint8 BGR array, a folder, a glob pattern, an ``http(s)://`` image
                URL, a list of those, a video file, ``'webcam'`` or a camera index.
            batch_size: images (frames) per forward pass (a config model pads a batch's images to the largest).
            return_vis: put the drawings (H x W x 3 uint8 RGB) in ``'visualization'``.
            show / wait_time: show each drawing in a window for ``wait_time`` seconds (0: until a key); never
                without a display (a warning says so).
            no_save_vis / no_save_pred: do not write the drawings / the JSON files (no JSON by default:
                ``no_save_pred=True``).
            draw_pred / pred_score_thr: draw the regions scoring ``>= pred_score_thr`` (MMOCR's 0.3). An image
                where none does is logged as one line.
            return_datasamples: ``'predictions'`` holds the :class:`DataSample` s instead of dicts.
            print_result: print each image's prediction dict.
            out_dir: ``out_dir/preds/`` and ``out_dir/vis/`` (``''``: nothing written).
            video_out: for a video or camera, where the drawn video goes (default ``out_dir/vis/<video name>``).
            max_frames: stop a video or camera after this many frames.

        Returns:
            ``{'predictions': [{'polygons', 'scores'} per image or frame], 'visualization': [drawings] (empty
            without return_vis)}``.
        """
        return self.run_all(inputs, out_dir=out_dir, no_save_pred=no_save_pred, no_save_vis=no_save_vis,
                            batch_size=batch_size, video_out=video_out, return_vis=return_vis,
                            return_datasamples=return_datasamples, print_result=print_result, show=show,
                            wait_time=wait_time, max_frames=max_frames,
                            visualize_kwargs=dict(draw_pred=draw_pred, pred_score_thr=pred_score_thr))
