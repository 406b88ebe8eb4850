"""Run an exported model with no config and no model code: ``TextDetPredictor(model_dir)(img_bgr)`` for a text
detector, ``TextRecogPredictor(model_dir)([crop_bgr, ...])`` for a recogniser, :func:`load_predictor` for either
(chosen from the ``task`` in ``inference.json``).

Everything comes from the export directory (see :func:`visioncraft.export.export_model`): the graph
(``model.onnx`` for onnxruntime, ``model.pt`` for TorchScript) and ``inference.json``. The preprocessing is
the config's test pipeline as stored there, built from the same transform registry (so the resize is the very
``Resize`` / ``DetResizeForTest`` code the checkpoint path runs), followed by the same ``ImgDataPreprocessor``
(channel swap, ``(x - mean) / std``, zero padding to ``pad_size_divisor``); the post-processing is a
``DBCodec`` built from the stored settings, whose ``decode`` is the one ``DBHead.predict`` calls. A recogniser's
post-processing is a ``CTCCodec`` built from the stored settings and ``dictionary.txt``: the same greedy / beam
decoding ``CTCHead.predict`` runs, over the frames that hold the crop (not the right padding).
"""
from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.transforms import Compose
from ..errors import AnnotationError, check_device, read_json
from ..registry import MODELS, TASK_UTILS
from ..tasks.textrecog.codecs import CTCCodec, Dictionary
from ..tasks.textrecog.models import CTCHead, EncoderDecoderRecognizer
from .artifacts import FORMAT_VERSION, INFERENCE_JSON, MODEL_FILES

__all__ = ['TextDetPredictor', 'TextRecogPredictor', 'BACKENDS', 'load_inference_settings', 'load_predictor',
           'exported_task']

BACKENDS = {'onnxruntime': 'onnx', 'torchscript': 'torchscript'}


def load_inference_settings(model_dir: str | os.PathLike) -> dict[str, Any]:
    """``inference.json`` of an export directory (FileNotFoundError / ValueError naming the path)."""
    d = Path(model_dir)
    if not d.is_dir():
        raise FileNotFoundError(f'model directory not found: {d}')
    path = d / INFERENCE_JSON
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: {d} is not an exported model directory '
                                f'(write one with `visioncraft export CONFIG CHECKPOINT --out-dir {d}`)')
    info = read_json(path, 'export settings')
    if not isinstance(info, dict):
        raise AnnotationError(f'{path}: expected a JSON object, got {type(info).__name__}')
    try:
        version = int(info.get('format_version', 0))
    except (TypeError, ValueError):
        raise AnnotationError(f'{path}: format_version must be an integer, got {info.get("format_version")!r}') \
            from None
    if version > FORMAT_VERSION:
        raise AnnotationError(f'{path}: format_version {info.get("format_version")} is newer than this visioncraft '
                              f'reads ({FORMAT_VERSION})')
    for key in ('preprocess', 'postprocess'):
        if key not in info:
            raise AnnotationError(f'{path}: missing key {key!r}')
        if not isinstance(info[key], dict):
            raise AnnotationError(f'{path}: {key!r} must be a JSON object, got {type(info[key]).__name__}')
    return info


def exported_task(model_dir: str | os.PathLike) -> str:
    """The ``task`` of an export directory (``'textdet'`` or ``'textrecog'``; old exports without one: textdet)."""
    return str(load_inference_settings(model_dir).get('task') or 'textdet')


def load_predictor(model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', **kwargs):
    """The predictor for an export directory: :class:`TextDetPredictor` or :class:`TextRecogPredictor`, from the
    ``task`` stored in its ``inference.json``."""
    task = exported_task(model_dir)
    classes = {'textdet': TextDetPredictor, 'textrecog': TextRecogPredictor}
    if task == 'pose':
        from .pose_predictor import PosePredictor  # deferred: pose_predictor imports this module
        classes['pose'] = PosePredictor
    if task == 'detection':
        from .det_predictor import DetPredictor  # deferred: det_predictor imports this module
        classes['detection'] = DetPredictor
    if task == 'textcls':
        from .textcls import TextClsPredictor  # deferred: textcls imports this module
        classes['textcls'] = TextClsPredictor
    if task == 'textrecog' and load_inference_settings(model_dir)['postprocess'].get('type') == 'AttentionCodec':
        from .attention_recog import AttentionRecogPredictor  # deferred: attention_recog imports this module
        classes['textrecog'] = AttentionRecogPredictor
    if task not in classes:
        raise AnnotationError(f'{Path(model_dir) / INFERENCE_JSON}: task {task!r} has no predictor '
                         f'(known: {", ".join(classes)})')
    return classes[task](model_dir, backend=backend, device=device, **kwargs)


def build_preprocessing(pre: Mapping[str, Any], device: torch.device, resize: Mapping[str, Any] | None = None
                        ) -> tuple[list[dict], Compose, torch.nn.Module]:
    """The stored test pipeline of ``inference.json``'s ``preprocess`` (its config, a deep copy, and the built
    :class:`Compose`; ``resize`` replaces its resize step) and its data preprocessor, moved to ``device``."""
    pipeline_cfg = copy.deepcopy(pre['pipeline'])
    if resize is not None:
        pipeline_cfg = _replace_resize(pipeline_cfg, dict(resize))
    pipeline = Compose(pipeline_cfg)
    data_preprocessor = MODELS.build(dict(pre['data_preprocessor']),
                                     key_path=f'{INFERENCE_JSON} preprocess.data_preprocessor')
    data_preprocessor.to(device)
    return pipeline_cfg, pipeline, data_preprocessor


def load_dictionary(model_dir: Path, post: Mapping[str, Any], where: Path,
                    default_file: str | None = None) -> Dictionary:
    """The :class:`Dictionary` of ``postprocess.dictionary`` and its file in ``model_dir`` (their characters must
    agree). ``default_file``: the file name when the settings name none (None: they must name one)."""
    dcfg = dict(post['dictionary'])
    dcfg.pop('type', None)
    chars = dcfg.pop('characters', None)
    dict_file = model_dir / (dcfg.pop('dict_file') if default_file is None else dcfg.pop('dict_file', default_file))
    if not dict_file.is_file():
        raise FileNotFoundError(f'{dict_file} not found: the recogniser export in {model_dir} is incomplete (export '
                                'it again)')
    dictionary = Dictionary(dict_file=dict_file, **dcfg)
    if chars is not None and list(chars) != dictionary.chars:
        raise ValueError(f'{dict_file}: its characters differ from postprocess.dictionary.characters in {where}')
    return dictionary


def load_graph(path: Path, backend: str, device: torch.device, num_threads: int | None = None) -> Any:
    """The graph file ``path`` for ``backend``: an onnxruntime ``InferenceSession`` (its CUDA provider first when
    ``device`` is CUDA and onnxruntime has one; ``num_threads`` intra-op threads, None: onnxruntime's choice), or
    for ``'torchscript'`` the TorchScript module on ``device``, in eval mode."""
    if backend == 'onnxruntime':
        import onnxruntime as ort  # deferred: onnxruntime is optional, needed only for this backend
        providers = ['CPUExecutionProvider']
        if device.type == 'cuda' and 'CUDAExecutionProvider' in ort.get_available_providers():
            providers.insert(0, 'CUDAExecutionProvider')
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        return ort.InferenceSession(str(path), options, providers=providers)
    import warnings
    with warnings.catch_warnings():  # torch 2.14 marks torch.jit as deprecated; the format still loads
        warnings.simplefilter('ignore', FutureWarning)
        return torch.jit.load(str(path), map_location=device).eval()


class _Runtime:
    """The graph of an export directory on onnxruntime or TorchScript: ``run(batch) -> float32 CPU tensor``."""

    def __init__(self, model_dir: Path, info: dict, backend: str, device: torch.device,
                 num_threads: int | None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        files = info.get('files') or MODEL_FILES
        name = files.get(BACKENDS[backend])
        path = model_dir / (name or MODEL_FILES[BACKENDS[backend]])
        if name is None or not path.is_file():
            raise FileNotFoundError(f'{path} not found: the export in {model_dir} has no '
                                    f'{BACKENDS[backend]} model (export it with --format {BACKENDS[backend]})')
        self.backend, self.device = backend, device
        if backend == 'onnxruntime':
            self.session = load_graph(path, backend, device, num_threads)
            self.input_name = self.session.get_inputs()[0].name
        else:
            self.module = load_graph(path, backend, device, num_threads)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        if self.backend == 'onnxruntime':
            out = self.session.run(None, {self.input_name: batch.detach().float().cpu().numpy()})[0]
            return torch.from_numpy(out)
        with torch.no_grad():
            return self.module(batch.to(self.device)).float().cpu()


class TextDetPredictor:
    """Text detection with an exported model.

    Args:
        model_dir: a directory written by :func:`visioncraft.export.export_model`.
        backend: ``'onnxruntime'`` (``model.onnx``) or ``'torchscript'`` (``model.pt``).
        device: ``'cpu'`` or ``'cuda[:N]'`` (onnxruntime uses its CUDA provider when it has one).
        postprocess: overrides of the stored DBCodec settings (``thresh``, ``box_thresh``, ``unclip_ratio``...).
        resize: replaces the stored resize step with this transform config (e.g.
            ``dict(type='DetResizeForTest', limit_side_len=960, limit_type='max')``); None keeps the export's.
        num_threads: onnxruntime's intra-op threads (default: onnxruntime's choice, one per core).

    ``predictor(img)``: ``img`` is an H x W x 3 uint8 BGR array (OpenCV order; H x W grayscale is made
    3-channel). Returns ``(polygons, scores)``: K flat float32 arrays ``[x0, y0, x1, y1, ...]`` in ORIGINAL
    image pixels (4 points each for ``text_repr_type='quad'``) and a float32 K array of mean probabilities.
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 postprocess: Mapping[str, Any] | None = None, resize: Mapping[str, Any] | None = None,
                 num_threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        if self.info.get('task', 'textdet') != 'textdet':
            raise ValueError(f'{self.model_dir / INFERENCE_JSON}: task is {self.info.get("task")!r}, '
                             'TextDetPredictor needs a text-detection export')
        self.backend, self.device = backend, check_device(device)
        self.runtime = _Runtime(self.model_dir, self.info, backend, self.device, num_threads)
        self.pipeline_cfg, self.pipeline, self.data_preprocessor = build_preprocessing(
            self.info['preprocess'], self.device, resize=resize)
        codec_cfg = dict(self.info['postprocess'])
        for k, v in (postprocess or {}).items():
            if k not in codec_cfg:
                raise KeyError(f'unknown post-processing setting {k!r} (known: {", ".join(sorted(codec_cfg))})')
            codec_cfg[k] = v
        self.codec_cfg = codec_cfg
        self.codec = TASK_UTILS.build(dict(codec_cfg), key_path='inference.json postprocess')

    # ------------------------------------------------------------------ steps
    def preprocess(self, img: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        """The 1 x 3 x H' x W' float32 batch of ``img`` and its metainfo (``img_shape``, ``ori_shape``,
        ``scale_factor`` (w, h))."""
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError(f'TextDetPredictor: the image must be an H x W x 3 BGR numpy array, got '
                            f'{type(img).__name__} {getattr(img, "shape", "")}')
        packed = self.pipeline(dict(img=img))
        if packed is None:
            raise RuntimeError('TextDetPredictor: the preprocessing pipeline dropped the image')
        data = self.data_preprocessor(dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]))
        meta = packed['data_samples'].metainfo
        return data['inputs'], dict(meta)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """N x H' x W' probability maps of the preprocessed batch (float32, on the CPU)."""
        return self.runtime.run(batch)

    def postprocess(self, prob: torch.Tensor, meta: Mapping[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
        """Decode one H' x W' map exactly as ``DBHead.predict`` does: crop to ``img_shape``, then
        ``DBCodec.decode`` with the sample's ``scale_factor`` and ``ori_shape``."""
        h, w = meta.get('img_shape', prob.shape[-2:])[:2]
        return self.codec.decode(prob[:int(h), :int(w)], scale_factor=meta.get('scale_factor', (1.0, 1.0)),
                                 ori_shape=meta.get('ori_shape'))

    def __call__(self, img_bgr: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        batch, meta = self.preprocess(img_bgr)
        prob = self.forward(batch)[0]
        return self.postprocess(prob, meta)


def _replace_resize(pipeline: list[dict], resize: dict) -> list[dict]:
    """``pipeline`` with its first Resize / DetResizeForTest step replaced by ``resize`` (inserted after the
    image loading when there is none)."""
    out = [dict(s) for s in pipeline]
    for i, s in enumerate(out):
        if str(s.get('type', '')).rsplit('.', 1)[-1] in ('Resize', 'DetResizeForTest'):
            out[i] = resize
            return out
    at = next((i + 1 for i, s in enumerate(out) if str(s.get('type', '')).startswith('LoadImage')), 0)
    return out[:at] + [resize] + out[at:]


class CropRecogniser:
    """What the exported text recognisers (:class:`TextRecogPredictor`, ``AttentionRecogPredictor``) share: the
    graph and the stored preprocessing, the crops' batch, and the call interface. A subclass reads
    ``self.model_dir`` / ``self.info``, calls :meth:`_load_graph_and_preprocessing`, and defines ``forward(batch)``
    and ``postprocess(out, batch, samples)``.

    ``predictor(crop)`` -> ``(text, score, char_scores)``; ``predictor([crop, ...])`` -> one such tuple per crop.
    """

    def _load_graph_and_preprocessing(self, backend: str, device: str, num_threads: int | None) -> None:
        self.device = check_device(device)
        self.backend = backend
        self.runtime = _Runtime(self.model_dir, self.info, backend, self.device, num_threads)
        self.pipeline_cfg, self.pipeline, self.data_preprocessor = build_preprocessing(self.info['preprocess'],
                                                                                       self.device)

    def preprocess(self, crops: list[np.ndarray]) -> tuple[torch.Tensor, list]:
        """The N x C x H x W float32 batch of ``crops`` (right-padded to the widest) and their data samples
        (metainfo ``img_shape``, ``valid_ratio``...)."""
        name = type(self).__name__
        packed = []
        for i, img in enumerate(crops):
            if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
                raise TypeError(f'{name}: crop {i} must be a non-empty H x W x 3 BGR numpy array, got '
                                f'{type(img).__name__} {getattr(img, "shape", "")}')
            out = self.pipeline(dict(img=img))
            if out is None:
                raise RuntimeError(f'{name}: the preprocessing pipeline dropped crop {i}')
            packed.append(out)
        data = self.data_preprocessor(dict(inputs=[p['inputs'] for p in packed],
                                           data_samples=[p['data_samples'] for p in packed]))
        return data['inputs'], data['data_samples']

    def predict(self, crops: list[np.ndarray]) -> list[tuple[str, float, list]]:
        if not crops:
            return []
        batch, samples = self.preprocess(list(crops))
        return self.postprocess(self.forward(batch), batch, samples)

    def __call__(self, crops):
        if isinstance(crops, np.ndarray):
            return self.predict([crops])[0]
        return self.predict(list(crops))


class TextRecogPredictor(CropRecogniser):
    """Text recognition with an exported CTC recogniser (CRNN, SVTR).

    Args:
        model_dir: a directory written by :func:`visioncraft.export.export_model` for a recogniser (``task``
            ``'textrecog'``; it holds ``dictionary.txt``).
        backend: ``'onnxruntime'`` (``model.onnx``) or ``'torchscript'`` (``model.pt``).
        device: ``'cpu'`` or ``'cuda[:N]'``.
        beam_width: overrides the exported codec's (1 = greedy, > 1 = CTC prefix beam search).
        num_threads: onnxruntime's intra-op threads.

    ``predictor(crops)``: ``crops`` is one H x W x 3 uint8 BGR word image or a list of them; they run as ONE
    batch (padded on the right to the widest after the stored resize, as the config's test pipeline and
    ``TextRecogDataPreprocessor`` do; the padded frames are not decoded). Returns ``(text, score, char_scores)``
    per crop (one tuple for one array): ``score`` is the mean of the character scores, 0.0 for ''.
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 beam_width: int | None = None, num_threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        where = self.model_dir / INFERENCE_JSON
        if self.info.get('task') != 'textrecog':
            raise ValueError(f'{where}: task is {self.info.get("task", "textdet")!r}, TextRecogPredictor needs a '
                             'text-recognition export')
        self._load_graph_and_preprocessing(backend, device, num_threads)
        post = dict(self.info['postprocess'])
        if post.get('type') != 'CTCCodec':
            raise ValueError(f'{where}: postprocess.type is {post.get("type")!r}; TextRecogPredictor reads CTCCodec '
                             'exports (AttentionCodec: AttentionRecogPredictor, or load_predictor picks it)')
        self.codec = CTCCodec(load_dictionary(self.model_dir, post, where), blank=post['blank'],
                              beam_width=post.get('beam_width', 1) if beam_width is None else beam_width,
                              prune_prob=post.get('prune_prob', 1e-4))
        if 'num_classes' in post and int(post['num_classes']) != self.codec.num_classes:
            raise ValueError(f'{where}: num_classes {post["num_classes"]} but the dictionary gives '
                             f'{self.codec.num_classes}')

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """N x T x num_classes class probabilities (float32, CPU)."""
        return self.runtime.run(batch)

    def postprocess(self, probs: torch.Tensor, batch: torch.Tensor, samples: list) -> list[tuple[str, float, list]]:
        """Decode as the recogniser does, with its own static helpers: the frames that hold each crop
        (``EncoderDecoderRecognizer.valid_fractions`` -> ``CTCHead.frame_lengths``), then ``CTCCodec.decode``;
        the score is the mean of the character scores (0 for an empty text), as ``CTCHead.predict``."""
        fracs = EncoderDecoderRecognizer.valid_fractions(batch, samples)
        lengths = CTCHead.frame_lengths(probs.shape[1], fracs, probs.shape[0])
        out = []
        for text, scores in self.codec.decode(probs, lengths):
            out.append((text, float(sum(scores) / len(scores)) if scores else 0.0, scores))
        return out
