"""``visioncraft import-weights SRC --out CKPT [--model ppocrv4_det|ppocrv4_rec|ppocr_cls]``: official PP-OCR weights
into our checkpoint.

SRC is an official ONNX file (the PP-OCRv4 mobile detector / recogniser, the mobile v2.0 direction classifier; e.g.
the ones rapidocr-onnxruntime ships). The weights are read layer by layer into our model, every kind, shape and
setting checked (:func:`visioncraft.apis.ppocr_models.import_ppocr_checkpoint`), and written as ``state_dict`` +
``meta`` (``model``, ``config``: the config that builds the model in the folded form the weights have, ``source``,
``source_sha256``, ``layers``, ``not_in_graph``). The command prints how to fine-tune, test and export from it.
PaddlePaddle's own files (``.pdmodel`` / ``.pdiparams`` / ``.pdparams``) are refused with a message naming the
format: reading them needs PaddlePaddle.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..apis.ppocr_models import import_ppocr_checkpoint
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
    name, report, meta = import_ppocr_checkpoint(args.src, args.out, args.model)
    print(f'{name}: {report.layers} layers read from {args.src}, every kind, shape and setting checked')
    if report.not_in_graph:
        parts = sorted({k.rsplit('.', 2)[0] for k in report.not_in_graph})
        print(f'not in the inference graph, kept at their initial values (training-only; learned when fine-tuning): '
              f'{len(report.not_in_graph)} entries of {", ".join(parts)}')
    print(f'checkpoint: {args.out} (folded form; its config: {meta["config"]})')
    for line in _NEXT[name]:
        print('  ' + line.replace('CONFIG', meta['config']).replace('OUT', str(args.out)))
    return dict(model=name, checkpoint=Path(args.out), config=meta['config'], layers=report.layers,
                not_in_graph=list(report.not_in_graph))


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
