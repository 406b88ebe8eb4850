"""The argument parsers of the dataset tools (``tools/dataset_converters/**``, ``tools/misc/download_dataset.py``),
built from light imports only (argparse and :mod:`visioncraft.errors`).

Each tool's entry function (:mod:`.converters`) parses with one of these *before* it imports the task that
converts (and with it torch), so ``--help`` and a usage error answer at once, as for :mod:`.parsers`.
"""
from __future__ import annotations

import argparse

from ..errors import ArgumentParser

__all__ = ['DOWNLOAD_DATASETS', 'BASE_URL_ENV', 'pascal_voc_parser', 'cityscapes_parser', 'images2coco_parser',
           'icdar2015_parser', 'mmocr_to_paddle_parser', 'paddle_to_mmocr_parser', 'crop_textdet_parser',
           'lmdb_converter_parser', 'download_dataset_parser']

#: the names ``--dataset-name`` accepts: the keys of :data:`visioncraft.data.download.DATASET_FILES`, restated
#: here because that module's package imports torch (tests/tools/test_download_dataset.py checks they agree)
DOWNLOAD_DATASETS = ('coco2017', 'voc0712', 'voc2007', 'voc2012')
#: :data:`visioncraft.data.download.BASE_URL_ENV`, for the help text
BASE_URL_ENV = 'VISIONCRAFT_DATASET_BASE_URL'


# -- detection: COCO JSON --------------------------------------------------------------------------------------
def pascal_voc_parser(prog: str = 'tools/dataset_converters/pascal_voc.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Convert a Pascal VOC devkit (VOC2007 / VOC2012) to '
                       'COCO instances JSON, one file per split (voc07_trainval.json, ...).')
    p.add_argument('devkit_path', help='the VOCdevkit folder, holding VOC2007/ and/or VOC2012/')
    p.add_argument('-o', '--out-dir', help='output folder (default: devkit_path)')
    p.add_argument('--out-format', choices=['coco'], default='coco',
                   help="output format; only 'coco' (difficult objects get iscrowd=1)")
    return p


def cityscapes_parser(prog: str = 'tools/dataset_converters/cityscapes.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Convert Cityscapes gtFine polygons to COCO instances '
                       'JSON (instancesonly_filtered_gtFine_{train,val,test}.json, 8 instance classes).')
    p.add_argument('cityscapes_path', help='the Cityscapes root, holding leftImg8bit/ and gtFine/')
    p.add_argument('--img-dir', default='leftImg8bit', help='image folder under cityscapes_path')
    p.add_argument('--gt-dir', default='gtFine', help='annotation folder under cityscapes_path')
    p.add_argument('-o', '--out-dir', help='output folder (default: cityscapes_path/annotations)')
    p.add_argument('--nproc', type=int, default=1, help='worker processes')
    return p


def images2coco_parser(prog: str = 'tools/dataset_converters/images2coco.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Write a COCO JSON listing the images of a folder (no '
                       'annotations), to run a model over them with the test tools.')
    p.add_argument('img_path', help='image folder (searched recursively)')
    p.add_argument('classes', help='text file with one class name a line')
    p.add_argument('out', help='output JSON: a bare file name is written to the annotations folder next to '
                               'IMG_PATH (IMG_PATH/../annotations/OUT), a path with a folder as given')
    p.add_argument('--exclude-extensions', nargs='+', default=[], metavar='EXT',
                   help="leave out files with these endings, e.g. '.png'")
    return p


# -- text detection: MMOCR JSON <-> PaddleOCR ------------------------------------------------------------------
def icdar2015_parser(prog: str = 'tools/dataset_converters/textdet/icdar2015.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='ICDAR 2015 (img_N.jpg + gt_img_N.txt) -> MMOCR textdet '
                       'JSON, one per split found under ROOT (textdet_train.json, textdet_test.json).')
    p.add_argument('root', help='folder holding imgs/{train,test} and annotations/{train,test} (MMOCR layout), or '
                   'use --img-dir/--ann-dir/--out for one split')
    p.add_argument('--img-dir', help='image folder of one split (with --ann-dir and --out)')
    p.add_argument('--ann-dir', help='gt_img_N.txt folder of one split')
    p.add_argument('--out', help='output JSON of one split')
    return p


def mmocr_to_paddle_parser(prog: str = 'tools/dataset_converters/textdet/mmocr_to_paddle.py'
                           ) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='MMOCR textdet JSON -> PaddleOCR detection label file.')
    p.add_argument('json_file')
    p.add_argument('out_file')
    return p


def paddle_to_mmocr_parser(prog: str = 'tools/dataset_converters/textdet/paddle_to_mmocr.py'
                           ) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='PaddleOCR detection label file -> MMOCR textdet JSON.')
    p.add_argument('label_file')
    p.add_argument('out_file')
    p.add_argument('--img-dir', help='the data_dir the label paths are relative to (reads image sizes)')
    return p


# -- text recognition: word crops, LMDB ------------------------------------------------------------------------
def crop_textdet_parser(prog: str = 'tools/dataset_converters/textrecog/crop_textdet.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Cut every word (not do-not-care, with a transcription) '
                       'out of a text-detection dataset: perspective-rectified crops + a recognition '
                       'label file (MMOCR JSON or PaddleOCR).')
    p.add_argument('src', help='MMOCR textdet JSON (.json), PaddleOCR detection label file, or an ICDAR 2015 image '
                   'folder (with --ann-dir)')
    p.add_argument('out_dir', help='output folder (crops in OUT_DIR/imgs, label file in OUT_DIR)')
    p.add_argument('--format', default='auto', choices=['auto', 'mmocr', 'paddle', 'icdar2015'],
                   help='default: a folder -> icdar2015, .json -> mmocr, else paddle')
    p.add_argument('--data-root', help="folder the label file's image paths are relative to (default: the label "
                   "file's folder)")
    p.add_argument('--ann-dir', help='ICDAR 2015: the gt_img_N.txt folder')
    p.add_argument('--label-format', default='mmocr', choices=['mmocr', 'paddle'],
                   help='written label file: textrecog.json (mmocr) or rec_gt.txt (paddle)')
    p.add_argument('--out-label', help='label file path (default: in OUT_DIR)')
    p.add_argument('--ext', default='.jpg', choices=['.jpg', '.png'])
    p.add_argument('--no-rotate-tall', action='store_true', help='keep tall crops as they are')
    p.add_argument('--min-size', type=float, default=1.0, help='leave out words with a side shorter than this')
    return p


def lmdb_converter_parser(prog: str = 'tools/dataset_converters/textrecog/lmdb_converter.py'
                          ) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Text-recognition label file + images -> LMDB (keys '
                       'num-samples, image-%%09d, label-%%09d, 1-based) for RecogLMDBDataset, MMOCR and '
                       'PaddleOCR.')
    p.add_argument('label_path', help='MMOCR textrecog JSON (.json) or PaddleOCR "path<TAB>text" label file')
    p.add_argument('output', help='LMDB folder to create')
    p.add_argument('--img-root', '-i', help="folder the label's image paths are relative to (default: the label "
                   "file's folder)")
    p.add_argument('--label-format', '-f', default='auto', choices=['auto', 'mmocr', 'paddle'],
                   help='default: .json -> mmocr, else paddle')
    p.add_argument('--batch-size', '-b', type=int, default=1000, help='samples per write transaction')
    p.add_argument('--lmdb-map-size', '-m', type=int, default=None,
                   help='initial map size in bytes (grows by doubling as needed)')
    p.add_argument('--no-verify', action='store_true', help='do not decode the images while writing')
    p.add_argument('--skip-invalid', action='store_true', help='leave out missing / unreadable images')
    p.add_argument('--overwrite', action='store_true', help='replace an existing LMDB in OUTPUT')
    return p


# -- downloads -------------------------------------------------------------------------------------------------
def download_dataset_parser(prog: str = 'tools/misc/download_dataset.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Download a dataset: resumable, checksum-verified.')
    p.add_argument('--dataset-name', default='coco2017', choices=sorted(DOWNLOAD_DATASETS),
                   help='which dataset (default: coco2017)')
    p.add_argument('--save-dir', default='data/coco', help='folder for the files (default: data/coco)')
    p.add_argument('--unzip', action='store_true', help='unpack the archives into --save-dir')
    p.add_argument('--delete', action='store_true', help='with --unzip, delete each archive once unpacked')
    p.add_argument('--threads', type=int, default=4, help='files fetched at the same time (default: 4)')
    p.add_argument('--base-url', default=None,
                   help=f'fetch <BASE_URL>/<file name> from a mirror instead (default: ${BASE_URL_ENV})')
    p.add_argument('--retries', type=int, default=5, help='resumed attempts after a dropped connection')
    return p
