"""The dataset tools' entry functions: ``tools/dataset_converters/**`` and ``tools/misc/download_dataset.py`` each
call one through :func:`visioncraft.cli.main.run_cli` (``main_pascal_voc(argv, prog)``, ...).

Each parses ``argv`` with its light parser (:mod:`.converter_parsers`), checks what the parser cannot, and only
then imports the task's conversion function (and with it torch): ``--help`` and a usage error answer at once.
The conversions themselves live with their tasks (:mod:`visioncraft.tasks.detection.converters`,
:mod:`visioncraft.tasks.textdet.datasets.convert`, :mod:`visioncraft.tasks.textrecog.datasets`,
:mod:`visioncraft.data.download`).
"""
from __future__ import annotations

import logging
import os.path as osp
import sys

from . import converter_parsers as parsers  # light: argparse only

__all__ = ['main_pascal_voc', 'main_cityscapes', 'main_images2coco', 'main_icdar2015', 'main_mmocr_to_paddle',
           'main_paddle_to_mmocr', 'main_crop_textdet', 'main_lmdb_converter', 'main_download_dataset']


# -- detection: COCO JSON --------------------------------------------------------------------------------------
def main_pascal_voc(argv: list[str] | None = None, prog: str = 'tools/dataset_converters/pascal_voc.py') -> None:
    args = parsers.pascal_voc_parser(prog).parse_args(argv)
    from ..tasks.detection.converters import convert_voc  # deferred: --help must not import torch
    convert_voc(args.devkit_path, args.out_dir)


def main_cityscapes(argv: list[str] | None = None, prog: str = 'tools/dataset_converters/cityscapes.py') -> None:
    p = parsers.cityscapes_parser(prog)
    args = p.parse_args(argv)
    if args.nproc < 1:
        p.error('--nproc must be >= 1')
    from ..tasks.detection.converters import convert_cityscapes  # deferred: --help must not import torch
    convert_cityscapes(args.cityscapes_path, args.out_dir, img_dir=args.img_dir, gt_dir=args.gt_dir,
                       nproc=args.nproc)


def main_images2coco(argv: list[str] | None = None, prog: str = 'tools/dataset_converters/images2coco.py') -> None:
    args = parsers.images2coco_parser(prog).parse_args(argv)
    from ..tasks.detection.converters import convert_image_folder  # deferred: --help must not import torch
    convert_image_folder(args.img_path, args.classes, images2coco_out_path(args.img_path, args.out),
                         args.exclude_extensions)


def images2coco_out_path(img_path: str, out: str) -> str:
    """Where images2coco writes ``out``: a bare file name goes into the ``annotations`` folder next to
    ``img_path`` (``data/test2017`` + ``x.json`` -> ``data/annotations/x.json``), as MMDetection's guide says; a
    path with a folder part (``./x.json``, ``out/x.json``, an absolute one) is used as given."""
    if osp.dirname(out) or osp.isabs(out):
        return out
    return osp.normpath(osp.join(img_path, osp.pardir, 'annotations', out))


# -- text detection: MMOCR JSON <-> PaddleOCR ------------------------------------------------------------------
def main_icdar2015(argv: list[str] | None = None, prog: str = 'tools/dataset_converters/textdet/icdar2015.py'
                   ) -> None:
    p = parsers.icdar2015_parser(prog)
    args = p.parse_args(argv)
    one_split = args.img_dir or args.ann_dir or args.out
    if one_split and not (args.img_dir and args.ann_dir and args.out):
        p.error('--img-dir, --ann-dir and --out go together')
    from ..tasks.textdet.datasets.convert import icdar2015_to_mmocr  # deferred: --help must not import torch
    if one_split:
        icdar2015_to_mmocr(args.img_dir, args.ann_dir, args.out)
        return
    done = 0
    for split in ('train', 'test'):  # the MMOCR layout: imgs/{split}, annotations/{split} -> textdet_{split}.json
        img_dir = osp.join(args.root, 'imgs', split)
        if osp.isdir(img_dir):
            icdar2015_to_mmocr(img_dir, osp.join(args.root, 'annotations', split),
                               osp.join(args.root, f'textdet_{split}.json'), img_prefix=f'imgs/{split}/')
            done += 1
    if not done:
        raise FileNotFoundError(f'{args.root}: found neither imgs/train nor imgs/test')


def main_mmocr_to_paddle(argv: list[str] | None = None,
                         prog: str = 'tools/dataset_converters/textdet/mmocr_to_paddle.py') -> None:
    args = parsers.mmocr_to_paddle_parser(prog).parse_args(argv)
    from ..tasks.textdet.datasets.convert import mmocr_to_paddle  # deferred: --help must not import torch
    mmocr_to_paddle(args.json_file, args.out_file)


def main_paddle_to_mmocr(argv: list[str] | None = None,
                         prog: str = 'tools/dataset_converters/textdet/paddle_to_mmocr.py') -> None:
    args = parsers.paddle_to_mmocr_parser(prog).parse_args(argv)
    from ..tasks.textdet.datasets.convert import paddle_to_mmocr  # deferred: --help must not import torch
    paddle_to_mmocr(args.label_file, args.out_file, args.img_dir)


# -- text recognition: word crops, LMDB ------------------------------------------------------------------------
def main_crop_textdet(argv: list[str] | None = None,
                      prog: str = 'tools/dataset_converters/textrecog/crop_textdet.py') -> None:
    p = parsers.crop_textdet_parser(prog)
    args = p.parse_args(argv)
    fmt = args.format
    if fmt == 'auto':
        fmt = 'icdar2015' if osp.isdir(args.src) else 'mmocr' if args.src.lower().endswith('.json') else 'paddle'
    if fmt != 'icdar2015' and not osp.isfile(args.src):
        raise FileNotFoundError(f'{p.prog}: {args.src} does not exist')
    if fmt == 'icdar2015':
        if not args.ann_dir:
            p.error('--ann-dir (the gt_img_N.txt folder) is needed for an ICDAR 2015 image folder')
        cfg = dict(type='ICDAR2015Dataset', data_prefix=dict(img_path=args.src, ann_path=args.ann_dir), test_mode=True)
        base = args.src
    else:
        base = args.data_root or osp.dirname(osp.abspath(args.src))
        cfg = (dict(type='OCRDataset', ann_file=osp.abspath(args.src), data_root=base, test_mode=True) if fmt == 'mmocr'
               else dict(type='PaddleOCRDetDataset', label_file_list=osp.abspath(args.src), data_dir=base,
                         test_mode=True))
    from ..tasks.textrecog.datasets import crop_textdet_to_recog  # deferred: --help must not import torch
    crop_textdet_to_recog(cfg, args.out_dir, label_format=args.label_format, out_label=args.out_label, ext=args.ext,
                          base_dir=base, rotate_tall=not args.no_rotate_tall, min_size=args.min_size, log=print)


def main_lmdb_converter(argv: list[str] | None = None,
                        prog: str = 'tools/dataset_converters/textrecog/lmdb_converter.py') -> None:
    p = parsers.lmdb_converter_parser(prog)
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error('--batch-size must be >= 1')
    from ..tasks.textrecog.datasets import write_recog_lmdb  # deferred: --help must not import torch
    write_recog_lmdb(args.label_path, args.output, img_root=args.img_root, label_format=args.label_format,
                     batch_size=args.batch_size, map_size=args.lmdb_map_size, verify=not args.no_verify,
                     skip_invalid=args.skip_invalid, overwrite=args.overwrite, log=print)


# -- downloads -------------------------------------------------------------------------------------------------
def main_download_dataset(argv: list[str] | None = None, prog: str = 'tools/misc/download_dataset.py') -> None:
    p = parsers.download_dataset_parser(prog)
    args = p.parse_args(argv)
    if args.delete and not args.unzip:
        p.error('--delete needs --unzip (it deletes archives once unpacked)')
    # deferred: --help must not import torch (visioncraft.data's __init__ does)
    from ..data.download import DownloadError, download_dataset
    log = logging.getLogger('visioncraft')
    if not log.handlers and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format='%(message)s')
    try:
        paths = download_dataset(args.dataset_name, args.save_dir, unzip=args.unzip, delete=args.delete,
                                 threads=args.threads, base_url=args.base_url, retries=args.retries)
    except DownloadError as exc:  # the network or the remote file, not the user's input: status 1, one line
        print(f'error: {exc}', file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    for path in paths:
        print(path if path.exists() else f'{path} (unpacked and deleted)')
