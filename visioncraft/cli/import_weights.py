"""``visioncraft import-weights SRC --out CKPT [--model ppocrv4_det|ppocrv4_rec|ppocr_cls]``: official PP-OCR weights
into our checkpoint.

SRC is an official ONNX file (the PP-OCRv4 mobile detector / recogniser, the mobile v2.0 direction classifier; e.g.
the ones rapidocr-onnxruntime ships). The weights are read layer by layer into our model, every kind, shape and
setting checked (:func:`visioncraft.apis.ppocr_models.import_ppocr_checkpoint`), and written as ``state_dict`` +
``meta`` (``model``, ``config``: the config that builds the model in the folded form the weights have, ``source``,
``source_sha256``, ``layers``, ``not_in_graph``). The command prints how to fine-tune, test and export from it.
PaddlePaddle's own files are read too, without PaddlePaddle (:mod:`visioncraft.fileio.paddle`): a ``.pdparams``
training checkpoint by its parameter names (PaddleOCR's training form, folded on the way into the deploy form; the
recogniser's NRTR branch is left out), an inference model (``.pdmodel`` + ``.pdiparams``, or the folder holding
them) layer by layer (:mod:`visioncraft.models.paddle_weights`). ``--model`` is told from the file when not given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import hashlib

import numpy as np
import torch

from ..apis.ppocr_models import MODEL_ALIASES, PPOCR_CLS, PPOCR_CONFIGS, import_ppocr_checkpoint
from ..apis.ppocr_weights import PPOCR_MODELS, build_ppocr_model
from ..errors import UserError
from ..fileio.checkpoint import load_model_weights, save_checkpoint
from ..fileio.paddle import PADDLE_SUFFIXES, PaddleFormatError, load_paddle_weights, load_pdparams
from ..models.onnx_weights import ImportReport
from ..models.paddle_weights import load_paddle_inference_weights
from .parsers import import_weights_parser as build_parser

__all__ = ['build_parser', 'main', 'run']

#: what to do with each imported model (OUT: the checkpoint, CONFIG: its config)
_NEXT = {
    'ppocrv4_mobile_det': [
        'fine-tune: visioncraft train CONFIG --cfg-options load_from=OUT',
        '           python tools/train.py -c configs/det/PP-OCRv4/PP-OCRv4_mobile_det.yml '
        '-o +Architecture.Backbone.deploy=True Global.pretrained_model=OUT',
        'test:      visioncraft test CONFIG OUT',
        'export:    visioncraft export CONFIG OUT --work-dir inference/ppocrv4_mobile_det',
    ],
    'ppocrv4_mobile_rec': [
        'fine-tune: visioncraft train CONFIG --cfg-options load_from=OUT',
        'test:      visioncraft test CONFIG OUT',
        'export:    visioncraft export CONFIG OUT --work-dir inference/ppocrv4_mobile_rec',
    ],
    'ppocr_mobile_v2.0_cls': [
        'load:      visioncraft.apis.init_detector(CONFIG, OUT) (the classifier has no training data config or '
        'exporter yet)',
    ],
}


def main(argv: list[str] | None = None, prog: str = 'visioncraft import-weights') -> dict:
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace) -> dict:
    """Import as the parsed ``args`` (of :func:`build_parser`) say; returns ``dict(model, checkpoint, config,
    layers, not_in_graph)``."""
    src = _paddle_source(Path(args.src))
    if src is not None:
        name, report, meta = import_paddle_checkpoint(src, args.out, args.model)
    else:
        name, report, meta = import_ppocr_checkpoint(args.src, args.out, args.model)
    how = (f'{report.layers} layers read from {args.src}, every kind, shape and setting checked' if report.layers
           else f'every weight read by name from {args.src} (Paddle training checkpoint, folded)')
    print(f'{name}: {how}')
    if report.not_in_graph:
        parts = sorted({k.rsplit('.', 2)[0] for k in report.not_in_graph})
        print(f'not in the inference graph, kept at their initial values (training-only; learned when fine-tuning): '
              f'{len(report.not_in_graph)} entries of {", ".join(parts)}')
    print(f'checkpoint: {args.out} (folded form; its config: {meta["config"]})')
    for line in _NEXT[name]:
        print('  ' + line.replace('CONFIG', meta['config']).replace('OUT', str(args.out)))
    return dict(model=name, checkpoint=Path(args.out), config=meta['config'], layers=report.layers,
                not_in_graph=list(report.not_in_graph))


def _paddle_source(src: Path) -> Path | None:
    """The Paddle file ``src`` names (itself, or in a folder: ``inference.pdmodel`` / the one ``.pdmodel`` /
    ``.pdparams``); None for anything else (the ONNX path)."""
    if src.is_dir():
        found = sorted(src.glob('*.pdmodel')) or sorted(src.glob('*.pdparams')) or sorted(src.glob('*.pdiparams'))
        if len(found) > 1 and (src / 'inference.pdmodel').is_file():
            return src / 'inference.pdmodel'
        if len(found) > 1:
            raise UserError(f'{src}: holds {", ".join(p.name for p in found)}; name the file')
        return found[0] if found else None
    if src.suffix in PADDLE_SUFFIXES:
        if not src.is_file() and not (src.suffix == '.pdparams' and src.with_suffix('').is_file()):
            raise FileNotFoundError(f'{src}: no such file')
        return src
    if not src.exists() and src.with_name(src.name + '.pdparams').is_file():
        return src.with_name(src.name + '.pdparams')  # PaddleOCR's suffix-less checkpoint name
    return None


def _guess_paddle_model(names: list[str], shapes: list[tuple]) -> str:
    if any(n.startswith('head.binarize.') for n in names) or any(n.startswith('conv2d_transpose') for n in names):
        return 'ppocrv4_mobile_det'
    if any(n.startswith(('head.ctc_', 'neck.encoder.')) for n in names):
        return 'ppocrv4_mobile_rec'
    if any(len(s) == 2 and s[-1] == 2 for s in shapes):  # the classifier's 2-way linear layer
        return PPOCR_CLS
    if any(len(s) == 2 for s in shapes):
        return 'ppocrv4_mobile_rec'
    raise UserError('cannot tell which PP-OCR model the Paddle file holds; give --model '
                    f'({", ".join(MODEL_ALIASES)})')


def import_paddle_checkpoint(src: Path, out, model: str | None = None) -> tuple[str, ImportReport, dict]:
    """Read a Paddle ``.pdparams`` or inference model ``src`` into the PP-OCR model ``model`` (None: told from the
    names) in its deploy form and write ``out`` as :func:`~visioncraft.apis.ppocr_models.import_ppocr_checkpoint`
    does. Returns ``(model name, report, meta)``."""
    try:
        weights = load_pdparams(src) if src.suffix == '.pdparams' else load_paddle_weights(src)
        if src.suffix == '.pdiparams':
            src = src.with_suffix('.pdmodel')
    except PaddleFormatError as exc:
        raise UserError(str(exc)) from None
    name = MODEL_ALIASES.get(model, model) if model is not None else _guess_paddle_model(
        list(weights), [tuple(v.shape) for v in weights.values()])
    if name not in PPOCR_MODELS:
        raise UserError(f'--model {model}: unknown; choose one of {", ".join([*MODEL_ALIASES, *PPOCR_MODELS])}')
    net = build_ppocr_model(name, deploy=True)
    if src.suffix == '.pdparams':
        # into the training form first (PaddleOCR's checkpoints have it): every name and shape checked there,
        # then folded into the deploy form by its load hooks
        trained = build_ppocr_model(name, deploy=False)
        state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
        loaded = load_model_weights(trained, state, source=src)
        wrong = {k for k, _, _ in loaded.mismatched}
        missing = [k for k in loaded.missing if not k.endswith('num_batches_tracked') and k not in wrong]
        if loaded.mismatched or missing:
            shapes = ', '.join(f'{k} {a} vs {b}' for k, a, b in loaded.mismatched[:3])
            raise UserError(f'{src} does not fit {name}: {len(loaded.mismatched)} weights of other shapes '
                            f'({shapes or "none"}), {len(missing)} of the model\'s missing ({", ".join(missing[:3])})'
                            '; is it a checkpoint of another model or width? (--model)')
        net.load_state_dict(trained.state_dict())
        report = ImportReport(loaded=sorted(net.state_dict()), layers=0, not_in_graph=[])
    else:
        example = torch.zeros(PPOCR_MODELS[name].example_shape)
        try:
            report = load_paddle_inference_weights(net, src, (example,))
        except (ValueError, PaddleFormatError) as exc:
            raise UserError(f'{src} does not fit {name}: {exc}') from None
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    meta = dict(model=name, config=PPOCR_CONFIGS[name], model_config=PPOCR_MODELS[name].config, deploy=True,
                source=str(src), source_sha256=digest, layers=report.layers, not_in_graph=report.not_in_graph)
    save_checkpoint(dict(state_dict=net.state_dict(), meta=meta), out)
    return name, report, meta


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
