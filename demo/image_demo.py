"""Detect objects in images and draw them: MMDetection 3.x's ``demo/image_demo.py`` on
:class:`visioncraft.apis.DetInferencer`.

    python demo/image_demo.py INPUTS MODEL [--weights CKPT] [--out-dir outputs] [--device auto|cpu|cuda:0]
                              [--pred-score-thr 0.3] [--batch-size 1] [--show] [--no-save-vis] [--no-save-pred]
                              [--print-result] [--palette none|random|coco|voc|citys]

``INPUTS`` is an image, a folder of images, a glob pattern or an http(s) URL; ``MODEL`` a config file (a config name
of ``configs/faster_rcnn/``, ``configs/retinanet/``, ..., or an exported model directory). Writes
``OUT_DIR/vis/<image name>`` and ``OUT_DIR/preds/<image stem>.json`` per image (default ``outputs/``, as MMDetection).

MMDetection 2.x's form works too: ``python demo/image_demo.py IMG CONFIG CHECKPOINT [--out-file result.png]
[--score-thr 0.3] [--async-test]``: with ``--out-file`` the drawing of the one image is written there; without it,
the drawing is shown (when there is a display) and the outputs go to ``OUT_DIR`` as above.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

# light imports only: --help and a usage error answer without loading torch
from visioncraft.cli.main import run_cli
from visioncraft.cli.parsers import ArgumentParser, add_det_inferencer_args, resolve_device


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description='Run a detector on images and draw its predictions (MMDetection 3.x flags; '
                                        "2.x's IMG CONFIG CHECKPOINT [--out-file] too).")
    parser.add_argument('inputs', help='an image, a folder of images, a glob pattern or an http(s) URL')
    parser.add_argument('model', help='model config file (or a config name, or an exported model directory)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help="MMDetection 2.x: the checkpoint as a third positional (3.x: --weights)")
    add_det_inferencer_args(parser)
    parser.add_argument('--out-file', default=None,
                        help='MMDetection 2.x: write the drawing of the one image here (nothing else is written)')
    parser.add_argument('--async-test', action='store_true', help='MMDetection 2.x: use async_inference_detector')
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpoint is not None:
        if args.weights is not None:
            parser.error(f'the checkpoint is given twice ({args.checkpoint} and --weights {args.weights}); give one')
        args.weights = args.checkpoint
    if args.batch_size < 1:
        parser.error(f'--batch-size must be at least 1, got {args.batch_size}')
    return args


def _write_one(inferencer, args) -> int:
    """MMDetection 2.x's ``--out-file``: the one image's drawing, nothing else."""
    import numpy as np

    from visioncraft.apis import async_inference_detector
    from visioncraft.apis.inputs import image_items, load_image
    from visioncraft.fileio.image import imwrite
    items = image_items(args.inputs, '--out-file')
    if len(items) != 1:
        raise SystemExit(f'error: --out-file takes one image, but {args.inputs} holds {len(items)}; use --out-dir '
                         'DIR for several')
    if args.async_test and inferencer.model is not None:
        img, _ = load_image(items[0][0], 'image_demo')
        sample = asyncio.run(async_inference_detector(inferencer.model, img))
        drawn = inferencer.visualize(img, sample, pred_score_thr=args.pred_score_thr)
    else:
        drawn = inferencer(items[0][0], return_vis=True, no_save_vis=True, pred_score_thr=args.pred_score_thr,
                           print_result=args.print_result, out_dir='')['visualization'][0]
    imwrite(args.out_file, np.ascontiguousarray(drawn[..., ::-1]), '--out-file')
    print(f'wrote {args.out_file}')
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    args.device = resolve_device(args.device)  # 'auto': CUDA when there is one
    from visioncraft.apis import DetInferencer
    from visioncraft.apis.display import has_display
    from visioncraft.apis.inputs import image_items

    image_items(args.inputs, 'image_demo')  # a missing input fails before the model loads
    if args.out_file is not None:
        import cv2
        if not cv2.haveImageWriter(args.out_file):
            raise OSError(f'--out-file: cannot write {args.out_file}: its extension is not an image format OpenCV '
                          'writes (use .png or .jpg)')
        return _write_one(DetInferencer(args.model, args.weights, device=args.device, palette=args.palette), args)
    # MMDetection 2.x's form (IMG CONFIG CHECKPOINT) showed the drawing: shown here too where there is a display
    show = args.show or (args.checkpoint is not None and has_display())
    if not args.out_dir or (args.no_save_vis and args.no_save_pred):
        if not (args.print_result or (show and has_display())):
            raise SystemExit('error: nothing would be written or shown: give --out-dir DIR (without both '
                             '--no-save-vis and --no-save-pred), --print-result, or --show on a display')
    inferencer = DetInferencer(args.model, args.weights, device=args.device, palette=args.palette)
    result = inferencer(args.inputs, batch_size=args.batch_size, show=show,
                        no_save_vis=args.no_save_vis, pred_score_thr=args.pred_score_thr,
                        print_result=args.print_result, no_save_pred=args.no_save_pred, out_dir=args.out_dir)
    n = len(result['predictions'])
    written = [f'{args.out_dir}/{sub}' for sub, off in (('vis', args.no_save_vis), ('preds', args.no_save_pred))
               if args.out_dir and not off]
    print(f'{n} image{"" if n == 1 else "s"}' + (f'; results in {", ".join(written)}' if written else ''))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))  # a mistake in the input: one `error: ...` line, exit status 2
