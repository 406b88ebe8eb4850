"""Named PP-OCR models: ``visioncraft ocr IMG --det PP-OCRv4 --rec PP-OCRv4 [--cls]`` and ``visioncraft
import-weights``.

* :data:`PPOCR_SYSTEMS`: the names ``visioncraft ocr`` takes, each a detector / recogniser of
  :data:`~visioncraft.apis.ppocr_weights.PPOCR_MODELS` (``--cls`` adds :data:`PPOCR_CLS`).
* :func:`load_ppocr_model`: a named model with the official weights, converted from the ONNX files of the installed
  ``rapidocr_onnxruntime`` by :func:`~visioncraft.apis.ppocr_weights.import_ppocr_weights` once, then read from a
  cache: ``<cache_dir>/ppocr/<model>-<sha256 of the ONNX file, 16 hex>.pth`` (written atomically; default cache
  :func:`default_cache_dir`, ``~/.cache/visioncraft``). A changed ONNX file gets a new entry; an unreadable entry
  is converted again.
* :func:`import_ppocr_checkpoint`: an official ONNX file -> our checkpoint (``state_dict`` + ``meta``, with the
  config that takes it as it is), what ``visioncraft import-weights`` writes. PaddlePaddle's own formats are refused
  with a message naming the format (no reader here: :data:`PADDLE_FORMATS`).
* :class:`PPOCRRunner`: :class:`~visioncraft.apis.PPOCRSystem` built from named models, for
  :class:`~visioncraft.apis.OCRInferencer`.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
from torch import nn

from visioncraft.errors import UserError
from visioncraft.model_index import default_cache_dir  # re-exported: the cache root every download shares
from visioncraft.fileio.checkpoint import load_checkpoint_file, save_checkpoint
from visioncraft.models.onnx_weights import ImportReport

from .ppocr_system import PPOCRSystem
from .ppocr_weights import PPOCR_MODELS, build_ppocr_model, import_ppocr_weights, rapidocr_model_path

__all__ = ['PPOCR_SYSTEMS', 'PPOCR_CLS', 'PPOCR_CONFIGS', 'MODEL_ALIASES', 'PADDLE_FORMATS', 'default_cache_dir',
           'ppocr_system_name', 'resolve_named_models', 'load_ppocr_model', 'ppocr_checkpoint', 'guess_ppocr_model',
           'import_ppocr_checkpoint', 'PPOCRRunner']

_logger = logging.getLogger(__name__)

#: the named OCR systems: name -> the detector and recogniser (keys of PPOCR_MODELS)
PPOCR_SYSTEMS: dict[str, dict[str, str]] = {
    'PP-OCRv4': dict(det='ppocrv4_mobile_det', rec='ppocrv4_mobile_rec'),
}
#: the text-direction classifier ``--cls`` adds (PaddleOCR's ``use_angle_cls``)
PPOCR_CLS = 'ppocr_mobile_v2.0_cls'
#: the config that takes each imported checkpoint as it is (the deploy form, the official weights' form)
PPOCR_CONFIGS: dict[str, str] = {
    'ppocrv4_mobile_det': 'configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py',
    'ppocrv4_mobile_rec': 'configs/ppocr/ppocrv4_mobile_rec.py',
    'ppocr_mobile_v2.0_cls': 'configs/_base_/models/ppocr_mobile_v2.0_cls.py',
}
#: ``import-weights --model`` short names
MODEL_ALIASES: dict[str, str] = {'ppocrv4_det': 'ppocrv4_mobile_det', 'ppocrv4_rec': 'ppocrv4_mobile_rec',
                                 'ppocr_cls': 'ppocr_mobile_v2.0_cls'}
#: PaddlePaddle's files, which import-weights names and refuses (no reader without paddle here)
PADDLE_FORMATS: dict[str, str] = {
    '.pdmodel': 'a Paddle inference program (.pdmodel, with its .pdiparams)',
    '.pdiparams': 'Paddle inference parameters (.pdiparams, with its .pdmodel)',
    '.pdparams': 'a PaddlePaddle training checkpoint (.pdparams)',
    '.pdopt': 'a PaddlePaddle optimizer state (.pdopt)',
    '.pdstates': 'a PaddlePaddle training state (.pdstates)',
}
_PADDLE_ADVICE = ('convert the inference model to ONNX with paddle2onnx (paddle2onnx --model_dir DIR '
                  '--model_filename inference.pdmodel --params_filename inference.pdiparams --save_file model.onnx; '
                  'a .pdparams checkpoint goes through PaddleOCR\'s tools/export_model.py first) and import that file, '
                  'or use the official ONNX files of rapidocr-onnxruntime')


def ppocr_system_name(spec: object) -> str | None:
    """The :data:`PPOCR_SYSTEMS` key ``spec`` names (case and dashes ignored: ``ppocrv4``), else None. A path that
    exists is never a name."""
    if not isinstance(spec, str) or os.path.exists(spec):
        return None
    key = spec.lower().replace('-', '').replace('_', '')
    return next((n for n in PPOCR_SYSTEMS if n.lower().replace('-', '') == key), None)


def _index_ppocr_name(spec: object, task: str) -> bool:
    """Whether ``spec`` names a PP-OCR model of the model index (``ppocrv4_mobile_det``) of ``task``."""
    from .model_index import get_model, is_model_name
    return isinstance(spec, str) and is_model_name(spec, task) and get_model(spec).convert == 'ppocr'


def _looks_like_a_name(spec: str) -> bool:
    return '/' not in spec and os.sep not in spec and not Path(spec).suffix and not os.path.exists(spec)


def resolve_named_models(det, rec, det_weights=None, rec_weights=None) -> str | None:
    """The named system ``det`` / ``rec`` ask for, or None when both are configs / exported directories.

    None for both: ``'PP-OCRv4'``; one None and the other a name: that name. A name mixed with a config or an
    exported directory, weights given with a name, or an unknown name is a ValueError naming the flag."""
    from .model_index import is_model_name
    if det is None and rec is None:
        return 'PP-OCRv4'
    if _index_ppocr_name(det, 'textdet') and _index_ppocr_name(rec, 'textrecog'):
        det = rec = 'PP-OCRv4'  # the index's names of the PP-OCRv4 models: PaddleOCR's system runs them
    for role, spec in (('det', det), ('rec', rec)):
        task = 'textdet' if role == 'det' else 'textrecog'
        if spec is not None and ppocr_system_name(spec) is None and _looks_like_a_name(str(spec)) \
                and not is_model_name(str(spec), task):
            raise ValueError(f'--{role} {spec}: no such config file or exported model directory, and not a named '
                             f'model (named: {", ".join(PPOCR_SYSTEMS)}) nor a {task} model of the index '
                             f'(`visioncraft models --task {task}`)')
    nd, nr = ppocr_system_name(det), ppocr_system_name(rec)
    if det is None or rec is None:
        given, missing, name = ('rec', 'det', nr) if det is None else ('det', 'rec', nd)
        if name is None:
            raise ValueError(f'--{missing} is needed with --{given} {rec if det is None else det} (a config or an '
                             f'exported model); with neither --det nor --rec the named models run '
                             f'({", ".join(PPOCR_SYSTEMS)})')
        nd = nr = name
    if nd is None and nr is None:
        return None
    if nd is None or nr is None:
        named, other = ('det', 'rec') if nd else ('rec', 'det')
        raise ValueError(f'--{named} {nd or nr} is a named model but --{other} {rec if other == "rec" else det} is '
                         f'not: named models run PaddleOCR\'s system together (--det {nd or nr} --rec {nd or nr}); '
                         f'with a config or exported --{other}, give a config or exported --{named} too '
                         '(`visioncraft import-weights` and `visioncraft export` make them)')
    if nd != nr:
        raise ValueError(f'--det {nd} and --rec {nr}: name the same system for both')
    for role, weights in (('det', det_weights), ('rec', rec_weights)):
        if weights is not None:
            raise ValueError(f'--{role}-weights {weights} given with the named model {nd}: it runs the official '
                             f'weights (give a config file with --{role}-weights instead)')
    return nd


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _meta(name: str, path: Path, digest: str, report: ImportReport) -> dict:
    return dict(model=name, config=PPOCR_CONFIGS[name], model_config=PPOCR_MODELS[name].config, deploy=True,
                source=str(path), source_sha256=digest, layers=report.layers, not_in_graph=report.not_in_graph)


def load_ppocr_model(name: str, *, cache_dir: str | os.PathLike | None = None,
                     onnx_path: str | os.PathLike | None = None) -> nn.Module:
    """Model ``name`` (a key of :data:`PPOCR_MODELS`) in eval mode with the official weights of ``onnx_path``
    (default: rapidocr_onnxruntime's file; FileNotFoundError saying what to install when the package is missing),
    converted once and cached (see the module doc)."""
    path = Path(onnx_path) if onnx_path is not None else rapidocr_model_path(PPOCR_MODELS[name].onnx_file)
    digest = _sha256(path)
    cached = Path(cache_dir if cache_dir is not None else default_cache_dir()) / 'ppocr' / f'{name}-{digest[:16]}.pth'
    if cached.is_file():
        try:
            model = build_ppocr_model(name, deploy=True)
            model.load_state_dict(load_checkpoint_file(cached)['state_dict'])  # strict: every key
            return model.eval()
        except Exception as exc:  # noqa: BLE001 - a torn or stale cache entry: convert again
            _logger.warning(f'{cached}: cached weights unreadable ({exc}); converting {path} again')
    model, report = import_ppocr_weights(name, path)
    try:
        save_checkpoint(dict(state_dict=model.state_dict(), meta=_meta(name, path, digest, report)), cached)
    except OSError as exc:  # a read-only cache costs a conversion per run, nothing else
        _logger.warning(f'could not cache the converted {name} weights in {cached.parent} ({exc})')
    return model


def ppocr_checkpoint(name: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached checkpoint of the named PP-OCR model (a key of :data:`PPOCR_MODELS`) for its
    :data:`PPOCR_CONFIGS` config: converted from the installed rapidocr package's ONNX file on first use
    (:func:`load_ppocr_model`), then read from the cache. What the model index resolves the PP-OCR names to."""
    path = rapidocr_model_path(PPOCR_MODELS[name].onnx_file)
    cached = Path(cache_dir if cache_dir is not None else default_cache_dir()) / 'ppocr' / \
        f'{name}-{_sha256(path)[:16]}.pth'
    if not cached.is_file():
        load_ppocr_model(name, cache_dir=cache_dir, onnx_path=path)
    if not cached.is_file():
        raise UserError(f'{name}: its converted weights could not be written to {cached.parent} (is the cache '
                        'writable? set VISIONCRAFT_CACHE_DIR)')
    return cached


def guess_ppocr_model(onnx_path: str | os.PathLike) -> str:
    """Which of :data:`PPOCR_MODELS` an official ONNX file holds: a recogniser carries its ``character`` list in the
    metadata; otherwise the output's rank says it (N x 1 x H x W: the detector, N x 2: the classifier)."""
    import onnx
    model = onnx.load(os.fspath(onnx_path), load_external_data=False)
    if any(p.key == 'character' for p in model.metadata_props):
        return 'ppocrv4_mobile_rec'
    rank = len(model.graph.output[0].type.tensor_type.shape.dim) if model.graph.output else 0
    found = {4: 'ppocrv4_mobile_det', 2: PPOCR_CLS}.get(rank)
    if found is None:
        raise UserError(f'{onnx_path}: cannot tell which PP-OCR model this is (output of rank {rank}); give --model '
                        f'({", ".join(MODEL_ALIASES)})')
    return found


def _check_source(src: Path) -> None:
    if src.is_dir():
        paddle = sorted(p.name for p in src.iterdir() if p.suffix in PADDLE_FORMATS)
        if paddle:
            raise UserError(f'{src}: a folder with {", ".join(paddle)}: {PADDLE_FORMATS[Path(paddle[0]).suffix]} is '
                            f'not read here (it needs PaddlePaddle); {_PADDLE_ADVICE}')
        raise IsADirectoryError(f'{src} is a folder; give the .onnx file')
    if src.suffix in PADDLE_FORMATS:
        raise UserError(f'{src}: {PADDLE_FORMATS[src.suffix]} is not read here (it needs PaddlePaddle); '
                        f'{_PADDLE_ADVICE}')
    if not src.is_file():
        raise FileNotFoundError(f'{src}: no such file')
    if src.suffix.lower() != '.onnx':
        raise UserError(f'{src}: expected an ONNX file (.onnx) of an official PP-OCR model')


def import_ppocr_checkpoint(src: str | os.PathLike, out: str | os.PathLike, model: str | None = None
                            ) -> tuple[str, ImportReport, dict]:
    """Read the official ONNX file ``src`` into our model (``model``: a key of :data:`PPOCR_MODELS` or of
    :data:`MODEL_ALIASES`; None: :func:`guess_ppocr_model`) and write ``out`` (``state_dict`` + ``meta``: ``model``,
    ``config`` (the config that loads it as it is), ``deploy=True``, ``source``, ``source_sha256``, ``layers``,
    ``not_in_graph``), atomically. Returns ``(model name, report, meta)``. A layer that does not match is a
    UserError naming the module and the ONNX node."""
    src = Path(src)
    _check_source(src)
    name = MODEL_ALIASES.get(model, model) if model is not None else guess_ppocr_model(src)
    if name not in PPOCR_MODELS:
        raise UserError(f'--model {model}: unknown; choose one of {", ".join([*MODEL_ALIASES, *PPOCR_MODELS])}')
    try:
        net, report = import_ppocr_weights(name, src)
    except ValueError as exc:  # the layer-by-layer check (or the character list) failed
        raise UserError(f'{src} does not fit {name}: {exc}') from None
    meta = _meta(name, src, _sha256(src), report)
    save_checkpoint(dict(state_dict=net.state_dict(), meta=meta), out)
    return name, report, meta


class PPOCRRunner:
    """:class:`~visioncraft.apis.PPOCRSystem` on the named system ``name`` (``use_angle_cls``: with the direction
    classifier), its models from :func:`load_ppocr_model`. ``runner(img)`` -> the system's lines;
    :meth:`recognize` reads crops; :attr:`dictionary` is the recogniser's."""

    def __init__(self, name: str, *, use_angle_cls: bool = False, device='cpu',
                 cache_dir: str | os.PathLike | None = None, rec_batch_num: int = 6) -> None:
        models = PPOCR_SYSTEMS[name]
        self.name = name
        self.system = PPOCRSystem(
            det=load_ppocr_model(models['det'], cache_dir=cache_dir),
            rec=load_ppocr_model(models['rec'], cache_dir=cache_dir),
            cls=load_ppocr_model(PPOCR_CLS, cache_dir=cache_dir) if use_angle_cls else None,
            use_angle_cls=use_angle_cls, device=device, rec_batch_num=rec_batch_num)

    @property
    def dictionary(self):
        return self.system.rec.decoder.codec.dictionary

    def __call__(self, img: np.ndarray):
        return self.system(img)

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return self.system.recognize(list(crops)) if len(crops) else []
