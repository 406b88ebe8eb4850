"""What ``visioncraft serve`` serves: a model named on the command line (:func:`parse_model_spec`), loaded
(:func:`load_served_model`) into a :class:`ServedModel` that turns a batch of decoded images into the JSON documents
the inferencers write to disk.

The ``MODEL`` syntax (one argument per served model)::

    MODEL  = [NAME=]PART[+PART]
    PART   = SOURCE[,WEIGHTS]
    SOURCE = a config file (.py / .yaml / .yml / .json), a model alias the inferencers accept (``retinanet``,
             ``det_shapes``, the name of a config of configs/retinanet/ etc., ``human`` for pose), or a directory
             written by ``visioncraft export``
    WEIGHTS = the checkpoint of a config or an alias (a path or an http(s) URL); never with an exported directory

Examples: ``det=configs/quickstart/det_shapes.py,work_dirs/quickstart/epoch_16.pth``, ``exports/retinanet``,
``ocr=textdet.py,det.pth+textrecog.py,rec.pth`` (a text detector + a recogniser: end-to-end OCR),
``pose=pose.py,pose.pth+person_det.py,det.pth`` (a pose model + a person detector; without the detector the
whole image is the person box). ``NAME`` (letters, digits, ``_ . -``; at most 64) is what the URL
``/v1/models/NAME/predict`` names; it defaults to the first part's file or folder name without its extension.

The task of each part comes from its config (the module of its ``model.type``: ``tasks/detection``, ``tasks/pose``,
``tasks/textdet``, ``tasks/textrecog``) or from the ``task`` of an export's ``inference.json``. One part serves its
own task (``detection``, ``pose``, ``textdet``, ``textrecog``); two parts serve ``ocr`` (textdet + textrecog) or
``pose`` with a person detector (pose + detection), in either order.

What each task answers for one image (the JSON the inferencers write, as :meth:`ServedModel.predict` returns it):

* ``detection``: ``{"labels": [int], "scores": [float], "bboxes": [[x1, y1, x2, y2]], "masks": [COCO RLE]}``
  (:class:`~visioncraft.apis.DetInferencer`; ``masks`` only for instance segmentation; pixels of the image sent);
* ``pose``: ``[{"keypoints": [[x, y]], "keypoint_scores": [float], "bbox": [[x1, y1, x2, y2]], "bbox_score": s}]``
  (:class:`~visioncraft.apis.PoseInferencer`);
* ``ocr``: ``{"img_path": null, "height", "width", "results": [{"polygon": [x0, y0, ...], "det_score", "text",
  "rec_score"}]}`` (:class:`~visioncraft.apis.OCRInferencer`);
* ``textdet``: the same document, each region without ``text`` / ``rec_score``;
* ``textrecog``: ``{"text": str, "rec_score": float}`` (the whole image is one word).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visioncraft.errors import mark_user_error

__all__ = ['ModelPart', 'ModelSpec', 'ServedModel', 'InferencerModel', 'TextDetModel', 'TextRecogModel',
           'parse_model_spec', 'load_served_model', 'part_task', 'TASKS', 'NAME_PATTERN']

_logger = logging.getLogger('visioncraft')

#: the tasks a served model can have
TASKS = ('detection', 'pose', 'ocr', 'textdet', 'textrecog')
#: what a model name may be (it is a URL path segment and a Prometheus label value)
NAME_PATTERN = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}')
_CONFIG_SUFFIXES = ('.py', '.yaml', '.yml', '.json')
# the package under visioncraft.tasks a model class lives in -> the task it serves
_TASK_PACKAGES = {'detection': 'detection', 'pose': 'pose', 'textdet': 'textdet', 'textrecog': 'textrecog'}
# the ``task`` of an export's inference.json -> the task it serves
_EXPORTED_TASKS = {'detection': 'detection', 'pose': 'pose', 'textdet': 'textdet', 'textrecog': 'textrecog'}


def _spec_error(text: str, why: str) -> ValueError:
    return mark_user_error(ValueError(f'model {text!r}: {why} (syntax: [NAME=]SOURCE[,WEIGHTS][+SOURCE[,WEIGHTS]]; '
                                      'see `visioncraft serve -h`)'))  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelPart:
    """One model of a served pipeline: a config file, an alias or an exported directory, and its checkpoint."""
    source: str
    weights: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A ``MODEL`` argument, parsed: the name it is served under and its one or two parts."""
    name: str
    parts: tuple[ModelPart, ...]
    text: str


def _default_name(source: str) -> str:
    path = Path(source.rstrip('/\\'))
    stem = path.stem if path.suffix.lower() in _CONFIG_SUFFIXES else path.name
    name = re.sub(r'[^A-Za-z0-9_.-]+', '-', stem).strip('-.') or 'model'
    if not name[0].isalnum():
        name = f'm{name}'
    return name[:64]


def parse_model_spec(text: str) -> ModelSpec:
    """Parse one ``MODEL`` argument (the module docstring's syntax). Nothing is read from disk here; a malformed
    argument is a ValueError (marked as the user's mistake) that quotes it."""
    if not isinstance(text, str) or not text.strip():
        raise _spec_error(str(text), 'empty')
    name = None
    body = text.strip()
    head, sep, rest = body.partition('=')
    if sep and NAME_PATTERN.fullmatch(head) and not Path(body).exists():
        name, body = head, rest
    elif sep and '/' not in head and '\\' not in head and ',' not in head and '+' not in head \
            and not Path(body).exists():
        raise _spec_error(text, f'the name {head!r} must be 1 to 64 letters, digits, "_", "." or "-", starting '
                                'with a letter or digit')
    pieces = body.split('+')
    if len(pieces) > 2:
        raise _spec_error(text, f'{len(pieces)} parts joined with "+": at most two (a text detector + a recogniser, '
                                'or a pose model + a person detector)')
    parts = []
    for piece in pieces:
        source, _, weights = piece.partition(',')
        source, weights = source.strip(), weights.strip()
        if not source:
            raise _spec_error(text, 'a part has no config file, alias or exported directory')
        if ',' in weights:
            raise _spec_error(text, f'{piece!r} has more than one "," (SOURCE,WEIGHTS)')
        parts.append(ModelPart(source, weights or None))
    return ModelSpec(name or _default_name(parts[0].source), tuple(parts), text)


# -- what a part is --------------------------------------------------------------------------------------------
def _config_task(path: Path) -> str:
    """The task of a config file, from the module its ``model.type`` is registered from."""
    from visioncraft.config import Config
    from visioncraft.registry import MODELS, default_scope
    cfg = Config.fromfile(str(path))
    model = cfg.get('model')
    if not isinstance(model, dict) or 'type' not in model:
        raise mark_user_error(ValueError(f'{path}: the config has no model=dict(type=...) to serve'))
    with default_scope(cfg.get('default_scope')):
        cls = MODELS.get(model['type']) if isinstance(model['type'], str) else model['type']
    if cls is None:
        raise mark_user_error(ValueError(f'{path}: model.type={model["type"]!r} is not a registered model'))
    parts = getattr(cls, '__module__', '').split('.')
    if len(parts) > 2 and parts[:2] == ['visioncraft', 'tasks'] and parts[2] in _TASK_PACKAGES:
        return _TASK_PACKAGES[parts[2]]
    raise mark_user_error(ValueError(f'{path}: cannot tell what task its model {cls.__name__} ({cls.__module__}) '
                                     'does; visioncraft serve runs the detection, pose, textdet and textrecog models '
                                     'of visioncraft.tasks'))


def part_task(part: ModelPart) -> tuple[str, str]:
    """``(task, kind)`` of a part: its task (``detection``, ``pose``, ``textdet``, ``textrecog``) and what its
    source is (``'exported'``, ``'config'`` or ``'alias'``). A source that is none of them, or weights given with an
    exported directory, is an error naming it."""
    path = Path(part.source)
    if path.is_dir():
        from visioncraft.export.predictor import exported_task  # here: the export package is heavy
        if part.weights is not None:
            raise mark_user_error(ValueError(f'{part.source} is an exported model directory, which holds its own '
                                             f'weights: drop ",{part.weights}"'))
        task = exported_task(path)
        if task not in _EXPORTED_TASKS:
            raise mark_user_error(ValueError(f'{part.source}: an exported {task!r} model, which visioncraft serve '
                                             f'cannot run (tasks: {", ".join(_EXPORTED_TASKS)})'))
        return _EXPORTED_TASKS[task], 'exported'
    if path.is_file():
        if path.suffix.lower() not in _CONFIG_SUFFIXES:
            raise mark_user_error(ValueError(f'{part.source}: expected a config file ({", ".join(_CONFIG_SUFFIXES)}), '
                                             'a model alias or an exported model directory'))
        return _config_task(path), 'config'
    from visioncraft.apis.model_aliases import POSE2D_ALIASES, resolve_det_model
    if part.source in POSE2D_ALIASES:
        return 'pose', 'alias'
    try:
        resolve_det_model(part.source, part.weights or '-')  # is it a detection alias / config name?
    except FileNotFoundError:
        raise mark_user_error(FileNotFoundError(
            f'{part.source}: no such config file or exported model directory, and not a model alias')) from None
    return 'detection', 'alias'


# -- served models ---------------------------------------------------------------------------------------------
@dataclass
class ServedModel:
    """A loaded model behind ``/v1/models/{name}/predict``.

    Attributes:
        name: the name in URLs.
        task: one of :data:`TASKS`.
        classes: the class names (detection), else empty.
        meta: more for ``GET /v1/models`` and the web page: ``keypoints`` (names) and ``skeleton`` (index pairs)
            for pose; ``source`` (the MODEL argument).
    """
    name: str
    task: str
    classes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, images: list[np.ndarray]) -> list[Any]:
        """One JSON-ready document per image (H x W x 3 uint8 BGR), in order; see the module docstring."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this model."""
        return dict(name=self.name, task=self.task, classes=list(self.classes), **self.meta)


class InferencerModel(ServedModel):
    """A :class:`~visioncraft.apis.BaseInferencer` (detection, pose, OCR): its ``preprocess`` / ``forward`` on the
    batch, its ``pred_to_json`` per image: the very JSON its ``out_dir`` files hold."""

    def __init__(self, name: str, task: str, inferencer, classes: Sequence[str] = (), meta: dict | None = None):
        super().__init__(name, task, [str(c) for c in classes], dict(meta or {}))
        self.inferencer = inferencer

    def predict(self, images: list[np.ndarray]) -> list[Any]:
        from visioncraft.apis.base_inferencer import InputItem
        inf = self.inferencer
        items = [InputItem(img, inf.array_name.format(i)) for i, img in enumerate(images)]
        preds = inf.forward([inf.preprocess(item) for item in items])
        if len(preds) != len(items):
            raise RuntimeError(f'{self.name}: the model gave {len(preds)} predictions for {len(items)} images')
        return [inf.pred_to_json(pred, item) for pred, item in zip(preds, items)]


class TextDetModel(ServedModel):
    """A text detector alone: ``{"img_path": null, "height", "width", "results": [{"polygon", "det_score"}]}``."""

    def __init__(self, name: str, detector, meta: dict | None = None):
        super().__init__(name, 'textdet', [], dict(meta or {}))
        self.detector = detector
        self.timings: dict[str, float] = {}

    def predict(self, images: list[np.ndarray]) -> list[Any]:
        from visioncraft.apis.ocr import OCR_STAGES
        out = []
        for img in images:
            timings = dict.fromkeys(OCR_STAGES, 0.0)
            polys, scores = self.detector(img, timings)
            results = [dict(polygon=[round(float(v), 2) for v in np.asarray(p).reshape(-1)], det_score=float(s))
                       for p, s in zip(polys, scores)]
            out.append(dict(img_path=None, height=int(img.shape[0]), width=int(img.shape[1]), results=results))
        return out


class TextRecogModel(ServedModel):
    """A text recogniser alone, the whole image being one word: ``{"text": str, "rec_score": float}``."""

    def __init__(self, name: str, recognizer, meta: dict | None = None):
        super().__init__(name, 'textrecog', [], dict(meta or {}))
        self.recognizer = recognizer

    def predict(self, images: list[np.ndarray]) -> list[Any]:
        return [dict(text=str(text), rec_score=float(score)) for text, score in self.recognizer(list(images))]


def _pose_meta(dataset_meta: dict) -> dict[str, Any]:
    names = dataset_meta.get('keypoint_id2name') or {}
    n = int(dataset_meta.get('num_keypoints') or len(names) or 0)
    keypoints = [str(names.get(i, i)) for i in range(n)] if isinstance(names, dict) else [str(v) for v in names]
    links = [[int(a), int(b)] for a, b in (dataset_meta.get('skeleton_links') or [])]
    return dict(keypoints=keypoints, skeleton=links)


def _config_path(part: ModelPart, kind: str) -> str:
    """A config file for a part that is a config or a detection alias (the alias resolved)."""
    if kind != 'alias':
        return part.source
    from visioncraft.apis.model_aliases import resolve_det_model
    return resolve_det_model(part.source, part.weights)


def load_served_model(spec: ModelSpec | str, device: str = 'cpu', backend: str = 'onnxruntime') -> ServedModel:
    """Load what ``spec`` (a :class:`ModelSpec` or a ``MODEL`` argument) names on ``device``; ``backend``
    (``onnxruntime`` / ``torchscript``) runs exported directories. Errors name the argument and the file."""
    if isinstance(spec, str):
        spec = parse_model_spec(spec)
    try:
        return _load(spec, device, backend)
    except (ValueError, KeyError) as exc:  # the loaders' complaints about what the argument names
        raise mark_user_error(exc, f'model {spec.text!r}') from None


def _load(spec: ModelSpec, device: str, backend: str) -> ServedModel:
    from visioncraft.fileio.checkpoint import resolve_checkpoint_alias

    def resolved(part: ModelPart) -> ModelPart:
        # WORK_DIR/last_checkpoint (and WORK_DIR/latest.pth) stand for the checkpoint last_checkpoint names
        if part.weights is None or part.weights.startswith(('http://', 'https://')):
            return part
        return ModelPart(part.source, resolve_checkpoint_alias(part.weights))

    t0 = time.perf_counter()
    tasks = [part_task(p) for p in spec.parts]
    spec = ModelSpec(spec.name, tuple(resolved(p) for p in spec.parts), spec.text)
    for part, (task, kind) in zip(spec.parts, tasks):
        if part.weights is None and (kind == 'alias' or kind == 'config' and task in ('textdet', 'textrecog')):
            what = 'a model alias' if kind == 'alias' else f'a {task} config'
            raise mark_user_error(ValueError(f'model {spec.text!r}: {part.source} is {what}: give its checkpoint as '
                                             f'{part.source},CHECKPOINT (nothing is downloaded)'))
        if part.weights is not None and not part.weights.startswith(('http://', 'https://')) \
                and not Path(part.weights).is_file():
            raise mark_user_error(FileNotFoundError(f'model {spec.text!r}: checkpoint file not found: {part.weights}'))
    meta: dict[str, Any] = dict(source=spec.text)
    if len(spec.parts) == 1:
        (part,), ((task, kind),) = spec.parts, tasks
        model = _load_single(spec.name, part, task, kind, device, backend, meta)
    else:
        by_task = {t: (p, k) for p, (t, k) in zip(spec.parts, tasks)}
        if set(by_task) == {'textdet', 'textrecog'}:
            from visioncraft.apis import OCRInferencer
            (det, _), (rec, _) = by_task['textdet'], by_task['textrecog']
            inf = OCRInferencer(det.source, rec.source, det_weights=det.weights, rec_weights=rec.weights,
                                device=device, backend=backend)
            model = InferencerModel(spec.name, 'ocr', inf, meta=meta)
        elif set(by_task) == {'pose', 'detection'}:
            (pose, pose_kind), (det, det_kind) = by_task['pose'], by_task['detection']
            model = _load_pose(spec.name, pose, pose_kind, device, backend, meta,
                               det_model=_config_path(det, det_kind), det_weights=det.weights)
        else:
            got = ' + '.join(t for t, _ in tasks)
            raise mark_user_error(ValueError(f'model {spec.text!r}: a {got} pair cannot be served together; two '
                                             'parts are a text detector + a recogniser (OCR) or a pose model + a '
                                             'person detector'))
    _logger.info(f'serve: loaded {spec.name} ({model.task}) in {time.perf_counter() - t0:.1f} s')
    return model


def _load_single(name: str, part: ModelPart, task: str, kind: str, device: str, backend: str,
                 meta: dict) -> ServedModel:
    if task == 'detection':
        from visioncraft.apis import DetInferencer
        source = part.source if kind == 'exported' else _config_path(part, kind)
        inf = DetInferencer(source, part.weights, device=device, show_progress=False, backend=backend)
        return InferencerModel(name, 'detection', inf, classes=inf.dataset_meta.get('classes') or (), meta=meta)
    if task == 'pose':
        return _load_pose(name, part, kind, device, backend, meta)
    from visioncraft.apis.ocr import load_text_model
    role = 'det' if task == 'textdet' else 'rec'
    runner = load_text_model(part.source, part.weights, role, device, backend)
    return TextDetModel(name, runner, meta) if role == 'det' else TextRecogModel(name, runner, meta)


def _load_pose(name: str, part: ModelPart, kind: str, device: str, backend: str, meta: dict, *,
               det_model: str | None = None, det_weights: str | None = None) -> ServedModel:
    from visioncraft.apis import PoseInferencer
    inf = PoseInferencer(part.source, part.weights, det_model=det_model, det_weights=det_weights, device=device,
                         show_progress=False, backend=backend)
    return InferencerModel(name, 'pose', inf, meta={**meta, **_pose_meta(dict(inf.dataset_meta))})
