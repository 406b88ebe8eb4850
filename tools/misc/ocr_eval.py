#!/usr/bin/env python
"""End-to-end OCR evaluation on a text-detection dataset with transcriptions (MMOCR textdet JSON):
``python tools/misc/ocr_eval.py DATA_ROOT ANN_FILE --det CONFIG_OR_EXPORTED [--det-weights CKPT]
--rec CONFIG_OR_EXPORTED [--rec-weights CKPT] [--out-dir DIR --batch-size N --device auto --no-draw]``.

The same as ``visioncraft ocr DATA_ROOT --eval ANN_FILE ...``: prints and writes (``<out-dir>/eval.json``) the
end-to-end hmean (E2EHmeanIOUMetric), the detection-only hmean (HmeanIOUMetric) and the share of words outside the
recogniser's dictionary; per-image JSON and pictures go to ``--out-dir`` (default ``ocr_results``).
"""
import sys

from visioncraft.cli.main import run_cli, run_command  # light: parses before torch is imported


def _main(argv):
    if len(argv) < 2 or argv[0].startswith('-') or argv[1].startswith('-'):
        if argv and argv[0] in ('-h', '--help'):
            print(__doc__)
            raise SystemExit(0)
        raise SystemExit('usage: tools/misc/ocr_eval.py DATA_ROOT ANN_FILE --det ... --rec ... (see -h)')
    return run_command('ocr', [argv[0], '--eval', argv[1], *argv[2:]], 'tools/misc/ocr_eval.py')


if __name__ == '__main__':
    run_cli(_main, sys.argv[1:])
