"""PaddleOCR's tools on PaddleOCR-layout YAML configs: ``tools/eval.py``, ``tools/infer_det.py``,
``tools/infer_rec.py`` and
``tools/export_model.py`` (``tools/train.py -c FILE -o ...`` is :mod:`visioncraft.cli.train`).

Every tool takes ``-c FILE`` and ``-o Key.Sub=value ...`` overrides of the PaddleOCR keys (strict: an unknown
key is an error) and reads the file through :func:`visioncraft.config.compat.paddleocr.load_paddleocr_config`::

    python tools/eval.py -c configs/det/det_mv3_db.yml -o Global.checkpoints=output/db_mv3/best_accuracy \\
        PostProcess.box_thresh=0.6 PostProcess.unclip_ratio=1.5
    python tools/infer_det.py -c configs/det/det_mv3_db.yml -o Global.infer_img=IMG_OR_DIR \\
        Global.pretrained_model=output/db_mv3/best_accuracy
    python tools/infer_rec.py -c configs/rec/rec_mv3_none_bilstm_ctc.yml -o Global.infer_img=IMG_OR_DIR \\
        Global.pretrained_model=output/rec/mv3_none_bilstm_ctc/best_accuracy
    python tools/export_model.py -c configs/det/det_mv3_db.yml -o Global.pretrained_model=CKPT \\
        Global.save_inference_dir=inference/det_db

"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..apis import TextDetInferencer, TextRecInferencer
from ..config import ConfigError, is_paddleocr_config
from ..data.loading import IMG_EXTENSIONS
from ..engine import Runner
from ..engine.checkpoint import load_model_weights
from ..errors import read_checkpoint
from ..export import export_model
from ..registry import MODELS, config_file_context
from ..visualization import draw_polygons
from .common import check_checkpoint_fits, check_run_config, read_config
from .parsers import eval_parser, export_model_parser, infer_det_parser, infer_rec_parser

__all__ = ['eval_main', 'infer_det_main', 'infer_rec_main', 'export_main', 'run_eval', 'run_infer_det', 'run_infer_rec',
           'run_export', 'image_files', 'IMG_EXTS']

logger = logging.getLogger('visioncraft')

#: image extensions ``Global.infer_img`` folders are searched for (PaddleOCR's, without pdf / gif / rgb)
IMG_EXTS = IMG_EXTENSIONS  # PaddleOCR's tools' name


# -- shared ---------------------------------------------------------------------------------------------------
def _load(args: argparse.Namespace, prog: str):
    if not is_paddleocr_config(args.config):
        raise SystemExit(f'{prog}: {args.config} is not a PaddleOCR-layout YAML (a .yml with Global and '
                         'Architecture); for the other configs use tools/test.py CONFIG CHECKPOINT')
    return read_config(args.config, args.opt)


def _weights(cfg, prog: str) -> str:
    """The checkpoint the tool runs: Global.checkpoints, else Global.pretrained_model (PaddleOCR's order)."""
    pd = cfg['paddleocr']
    ckpt = pd['checkpoints'] or pd['pretrained_model']
    if not ckpt:
        raise ConfigError(f'{pd["file"]}: {prog} needs weights: -o Global.checkpoints=CKPT or '
                          'Global.pretrained_model=CKPT')
    return ckpt


def image_files(path: str) -> list[str]:
    """``[path]`` for an image file, or the images in the folder ``path`` (sorted; not recursive)."""
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        files = sorted(str(p) for p in Path(path).iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTS)
        if files:
            return files
        raise FileNotFoundError(f'Global.infer_img: no image ({", ".join(IMG_EXTS)}) in the folder {path}')
    raise FileNotFoundError(f'Global.infer_img: {path} is neither an image file nor a folder')


# -- tools/eval.py --------------------------------------------------------------------------------------------
def eval_main(argv: list[str] | None = None, prog: str = 'tools/eval.py') -> dict:
    """Evaluate ``Global.checkpoints`` (else ``Global.pretrained_model``) on the Eval set; print and return
    the metrics (``icdar/precision``, ``icdar/recall``, ``icdar/hmean`` for det)."""
    return run_eval(eval_parser(prog).parse_args(argv), prog)


def run_eval(args: argparse.Namespace, prog: str = 'tools/eval.py') -> dict:
    """:func:`eval_main` on the parsed ``args`` (of :func:`.parsers.eval_parser`)."""
    cfg = _load(args, prog)
    if cfg.get('test_dataloader') is None or cfg.get('test_evaluator') is None:
        raise ConfigError(f'{cfg["paddleocr"]["file"]}: {prog} needs the Eval section and a Metric')
    cfg['load_from'] = _weights(cfg, prog)
    cfg['resume'] = False
    cfg['launcher'] = 'none'
    if not cfg.get('work_dir'):
        cfg['work_dir'] = str(Path('output') / Path(args.config).stem)
    check_run_config(cfg, 'test')
    runner = Runner(cfg)
    check_checkpoint_fits(runner.model, cfg['load_from'])
    metrics = runner.test()
    if runner.rank == 0:
        (runner.log_dir / 'metrics.json').write_text(json.dumps(metrics, indent=2, default=float))
        lines = [f'{k.split("/")[-1]}:{v}' for k, v in metrics.items() if not k.endswith('best_score_thr')]
        print('metric eval ***************\n' + '\n'.join(lines), flush=True)
    return metrics


def _inferencer(cfg, prog: str, model_type: str, inferencer_cls):
    """``(image files, inferencer)`` for the infer tools: ``Global.infer_img``'s images and ``inferencer_cls`` (a
    :class:`~visioncraft.apis.TextDetInferencer` / :class:`~visioncraft.apis.TextRecInferencer`) on the model with
    ``Global.checkpoints`` / ``pretrained_model`` loaded, on the GPU when ``Global.use_gpu`` and one exists, and the
    Eval transforms as its pipeline."""
    pd = cfg['paddleocr']
    if pd['model_type'] != model_type:
        raise ConfigError(f'{pd["file"]}: {prog} needs Architecture.model_type {model_type}, got '
                          f'{pd["model_type"]!r}')
    if not pd['infer_img']:
        raise ConfigError(f'{pd["file"]}: {prog} needs -o Global.infer_img=IMAGE_OR_FOLDER')
    if not pd['inference_pipeline']:
        raise ConfigError(f'{pd["file"]}: {prog} needs the Eval section (its transforms make the inference pipeline)')
    files = image_files(str(pd['infer_img']))
    ckpt = _weights(cfg, prog)
    with config_file_context(pd['file']):
        model = MODELS.build(cfg['model'].to_dict() if hasattr(cfg['model'], 'to_dict') else dict(cfg['model']),
                             key_path='model')
    _, state_dict = read_checkpoint(ckpt)
    report = load_model_weights(model, state_dict, source=ckpt)
    if not report.clean:
        logger.warning(f'{ckpt}: the weights differ from the model:\n{report}')
    device = 'cuda' if torch.cuda.is_available() and pd['use_gpu'] else 'cpu'
    with config_file_context(pd['file']):  # a wrong transform names the YAML
        inferencer = inferencer_cls(model, device=device, show_progress=False, pipeline=pd['inference_pipeline'])
    inferencer.who = prog  # its messages (an unreadable image) name the tool the user ran
    return files, inferencer


# -- tools/infer_det.py ---------------------------------------------------------------------------------------
class _PaddleDetInferencer(TextDetInferencer):
    """:class:`TextDetInferencer` drawing as PaddleOCR's ``tools/infer_det.py``: every box, its points rounded to
    integer pixels, in BGR (255, 255, 0), 2 px, to ``det_results/<image name>``."""

    vis_subdir = 'det_results'

    def visualize(self, img: np.ndarray, pred, **kwargs) -> np.ndarray:
        drawn = img.copy()
        draw_polygons(drawn, _points(pred), (255, 255, 0), 2)
        return drawn[..., ::-1]  # the inferencer's drawings are RGB

    def nothing_drawn(self, pred, **kwargs):
        return None  # PaddleOCR writes the line and the picture, silently, also when nothing is found


def _points(pred) -> list[list[list[int]]]:
    """A detection's polygons as PaddleOCR's ``points``: ``[[x, y], ...]`` rounded to integer original pixels."""
    return [np.rint(np.asarray(p, np.float64).reshape(-1, 2)).astype(int).tolist()
            for p in pred.pred_instances.polygons]


def infer_det_main(argv: list[str] | None = None, prog: str = 'tools/infer_det.py') -> list[dict]:
    """Detect text in ``Global.infer_img`` (an image or a folder) with ``Global.checkpoints`` / ``pretrained_model``.

    Writes, as PaddleOCR, one line per image to ``Global.save_res_path`` (default
    ``./output/det_db/predicts_db.txt``)::

        path/to/img.jpg\\t[{"transcription": "", "points": [[x, y], ...]}, ...]

    with integer points in original-image pixels, and the image with the boxes drawn (BGR (255, 255, 0), 2 px)
    to ``det_results/<image name>`` next to that file (also when nothing is found). Returns
    ``[{'img_path', 'points', 'scores', 'vis_path'}]``.
    """
    return run_infer_det(infer_det_parser(prog).parse_args(argv), prog)


def run_infer_det(args: argparse.Namespace, prog: str = 'tools/infer_det.py') -> list[dict]:
    """:func:`infer_det_main` on the parsed ``args`` (of :func:`.parsers.infer_det_parser`): a
    :class:`~visioncraft.apis.TextDetInferencer` run, its predictions written as PaddleOCR's lines."""
    cfg = _load(args, prog)
    pd = cfg['paddleocr']
    files, inferencer = _inferencer(cfg, prog, 'det', _PaddleDetInferencer)
    res_path = Path(pd['save_res_path'] or './output/det_db/predicts_db.txt')
    res_path.parent.mkdir(parents=True, exist_ok=True)
    vis_dir = res_path.parent / inferencer.vis_subdir
    vis_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with open(res_path, 'w', encoding='utf-8') as fout:
        for i, out in enumerate(inferencer.iterate(files, vis_out_dir=vis_dir, return_datasamples=True)):
            f, pred = files[i], out['predictions'][0]  # batch_size 1: one image per output, in order
            points = _points(pred)
            scores = [float(s) for s in pred.pred_instances.scores]
            fout.write(f + '\t' + json.dumps([dict(transcription='', points=p) for p in points]) + '\n')
            vis = vis_dir / inferencer.vis_file_name(os.path.basename(f))
            logger.info(f'{f}: {len(points)} boxes; picture {vis}')
            results.append(dict(img_path=f, points=points, scores=scores, vis_path=str(vis)))
    print(f'{len(files)} image(s): results in {res_path}, pictures in {vis_dir}', flush=True)
    return results


# -- tools/infer_rec.py ---------------------------------------------------------------------------------------
def infer_rec_main(argv: list[str] | None = None, prog: str = 'tools/infer_rec.py') -> list[dict]:
    """Read the word in each image of ``Global.infer_img`` (an image or a folder) with ``Global.checkpoints`` /
    ``pretrained_model``. Prints, as PaddleOCR, ``infer_img: PATH`` and ``result: TEXT\tSCORE`` per image and
    writes ``PATH\tTEXT\tSCORE`` lines to ``Global.save_res_path``. Returns ``[{'img_path', 'text', 'score'}]``."""
    return run_infer_rec(infer_rec_parser(prog).parse_args(argv), prog)


def run_infer_rec(args: argparse.Namespace, prog: str = 'tools/infer_rec.py') -> list[dict]:
    """:func:`infer_rec_main` on the parsed ``args`` (of :func:`.parsers.infer_rec_parser`): a
    :class:`~visioncraft.apis.TextRecInferencer` run, its predictions printed and written as PaddleOCR's."""
    cfg = _load(args, prog)
    pd = cfg['paddleocr']
    files, inferencer = _inferencer(cfg, prog, 'rec', TextRecInferencer)
    res_path = Path(pd['save_res_path'] or './output/rec/predicts_rec.txt')
    res_path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with open(res_path, 'w', encoding='utf-8') as fout:
        for i, out in enumerate(inferencer.iterate(files)):
            f, doc = files[i], out['predictions'][0]  # batch_size 1: one image per output, in order
            text, score = doc['text'], doc['scores']
            print(f'infer_img: {f}\n\tresult: {text}\t{score}', flush=True)
            fout.write(f'{f}\t{text}\t{score}\n')
            results.append(dict(img_path=f, text=text, score=score))
    print(f'{len(files)} image(s): results in {res_path}', flush=True)
    return results


# -- tools/export_model.py ------------------------------------------------------------------------------------
def export_main(argv: list[str] | None = None, prog: str = 'tools/export_model.py') -> dict:
    """Export ``Global.pretrained_model`` (else ``Global.checkpoints``) to ``Global.save_inference_dir`` with
    :func:`visioncraft.export.export_model` (TorchScript, ONNX and ``inference.json``)."""
    return run_export(export_model_parser(prog).parse_args(argv), prog)


def run_export(args: argparse.Namespace, prog: str = 'tools/export_model.py') -> dict:
    """:func:`export_main` on the parsed ``args`` (of :func:`.parsers.export_model_parser`)."""
    cfg = _load(args, prog)
    pd = cfg['paddleocr']
    if not pd['save_inference_dir']:
        raise ConfigError(f'{pd["file"]}: {prog} needs -o Global.save_inference_dir=DIR')
    ckpt = pd['pretrained_model'] or pd['checkpoints']
    if not ckpt:
        raise ConfigError(f'{pd["file"]}: {prog} needs -o Global.pretrained_model=CKPT')
    written = export_model(cfg, ckpt, pd['save_inference_dir'])
    print(f'inference model written to {pd["save_inference_dir"]}: '
          + ', '.join(f'{k}: {v}' for k, v in written.items()), flush=True)
    return written
