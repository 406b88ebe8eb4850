"""Every command's argument parser, built from light imports only (argparse and :mod:`visioncraft.errors`).

``visioncraft COMMAND``, ``tools/*.py`` and ``demo/*.py`` parse their arguments with these parsers *before* they
import the module that runs the command (and with it torch and the tasks), so ``--help`` and a usage error (a
missing argument, an unknown flag) answer at once: :func:`visioncraft.cli.main.run_command` parses, then imports.
The command modules (:mod:`.train`, :mod:`.test`, :mod:`.export`, ...) take their parser from here too.

``--device`` defaults to ``auto`` everywhere: :func:`resolve_device` turns it into CUDA when
``torch.cuda.is_available()``, else the CPU, after parsing (so ``--help`` never initialises torch), and checks an
explicit device (``--device cuda:0`` on a machine without CUDA is one ``error: ...`` line, exit status 2).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

# these live below every layer (the analysis tools and datasets' converters use them too); re-exported here
from ..argparsing import AUTO_DEVICE, OverridesAction, add_cfg_options, add_device_arg
from ..errors import ArgumentParser, check_device

__all__ = ['ArgumentParser', 'OverridesAction', 'add_common_args', 'add_device_arg', 'resolve_device',
           'add_model_args', 'add_video_output_args', 'check_video_output_args', 'str2bool', 'PARSERS',
           'build_parser', 'train_parser', 'test_parser', 'config_parser', 'export_parser', 'predict_parser',
           'ocr_parser', 'pose_parser', 'eval_parser', 'infer_det_parser', 'infer_rec_parser',
           'export_model_parser', 'predict_det_parser']
__all__ += ['det_parser', 'add_det_inferencer_args']
__all__ += ['report_parser']
__all__ += ['import_weights_parser']
__all__ += ['serve_parser']

def resolve_device(device: str, flag: str = '--device') -> str:
    """The device ``device`` names, checked: ``'auto'`` is ``'cuda:0'`` when ``torch.cuda.is_available()``, else
    ``'cpu'``; any other value is returned as given once :func:`visioncraft.errors.check_device` accepts it (an
    unknown device, or CUDA on a machine without it, is a :class:`~visioncraft.errors.DeviceError` naming
    ``flag``). Call it after parsing: it imports torch."""
    if device == AUTO_DEVICE:
        import torch  # here, not at the top: parsing (and --help) must not import torch
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    check_device(device, flag)
    return device


def str2bool(v: str) -> bool:
    if v.lower() in ('true', '1', 'yes', 't', 'y'):
        return True
    if v.lower() in ('false', '0', 'no', 'f', 'n'):
        return False
    raise argparse.ArgumentTypeError(f'expected True or False, got {v!r}')


# -- train / test ---------------------------------------------------------------------------------------------
def add_common_args(parser: argparse.ArgumentParser, *, options_alias: bool = True) -> None:
    """The flags every run command shares; ``options_alias``: ``--options`` is ``--cfg-options`` (MMDetection 2.x's
    train.py; its test.py's ``--options`` are evaluation options, see :func:`test_parser`)."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: ./work_dirs/<config name>)')
    add_cfg_options(parser, *(['--options'] if options_alias else []),
                    help='override config entries: a.b=1, lists as key="[a,b]" or key=a,b, list items as '
                         'a.0.b=c; a key that does not exist is an error (prefix it with + to add it). For a '
                         'PaddleOCR-layout YAML the keys are its own: Global.epoch_num=3 Optimizer.base_lr=1e-4')
    parser.add_argument('--strict-config', action='store_true',
                        help='a top-level config key that looks like a misspelt known one (train_dataloder) is an '
                             'error instead of a warning (strict_config=True in the config does the same)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='how the processes were started (tools/dist_*.sh use pytorch, slurm_*.sh slurm)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--show', action='store_true', help='show predictions in a window (needs a display)')
    parser.add_argument('--show-dir', help='write pictures of the predictions to this folder: a bare name goes '
                                           'under WORK_DIR/TIMESTAMP (MMDetection 3.x), or in the current folder for '
                                           'an MMDetection 2.x config; ./DIR, a path with a / or an absolute one '
                                           'as given')
    parser.add_argument('--wait-time', type=float, default=2.0, help='seconds each shown picture stays')
    parser.add_argument('--interval', type=int, default=1, help='draw every N-th sample')


def train_parser(prog: str = 'visioncraft train') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Train a model from a config file.')
    p.add_argument('config', nargs='?', help='config file (.py, .yaml or .json)')
    p.add_argument('gpus', nargs='?', type=int, default=None, metavar='GPUS',
                   help="MMOCR's `tools/train.py CONFIG 4 ...`: the GPU count, which belongs to tools/dist_train.sh "
                        '(this command runs one process and says so)')
    p.add_argument('-c', '--config-file', dest='config_opt',
                   help='config file, PaddleOCR style (-c FILE -o k=v); a PaddleOCR-layout YAML (Global + '
                        'Architecture) is translated and -o then sets its PaddleOCR keys (docs/paddleocr.md)')
    p.add_argument('--resume', nargs='?', const='auto', default=None, metavar='PATH',
                   help='resume from PATH, or with no PATH from the latest checkpoint in the work dir')
    p.add_argument('--resume-from', metavar='PATH', help="MMDetection 2.x's spelling of --resume PATH")
    p.add_argument('--load-from', metavar='PATH',
                   help="MMDetection 2.x: start from this checkpoint's weights (load_from), not resuming")
    p.add_argument('--amp', action='store_true',
                   help='mixed precision: fp16 with dynamic loss scaling on CUDA, bf16 autocast on the CPU')
    p.add_argument('--auto-scale-lr', action='store_true',
                   help='scale the LR linearly by (GPUs x batch size) / auto_scale_lr.base_batch_size')
    p.add_argument('--no-validate', action='store_true', help='do not validate during training')
    p.add_argument('--requeue', action='store_true',
                   help='under Slurm (SLURM_JOB_ID set): when SIGTERM / SIGINT / SIGUSR1 stops training, requeue '
                        'the job (scontrol requeue) after writing the checkpoint; the requeued job resumes by itself')
    add_common_args(p)
    return p


class EvalOptionsAction(OverridesAction):
    """``--options / --eval-options KEY=VALUE ...`` of MMDetection 2.x's test.py, where one bare value (the guide's
    ``--format-only --options ${JSONFILE_PREFIX}``) is the result files' prefix, ``jsonfile_prefix``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values, option_string=None):
        values = [values] if isinstance(values, str) else list(values or [])
        bare = [v for v in values if '=' not in v]
        if len(bare) > 1:
            parser.error(f'{option_string or self.dest}: expected KEY=VALUE (one bare PREFIX at most, read as '
                         f'jsonfile_prefix=PREFIX), got {" ".join(map(repr, bare))}')
        values = [f'jsonfile_prefix={v}' if '=' not in v else v for v in values]
        super().__call__(parser, namespace, values, option_string)


def test_parser(prog: str = 'visioncraft test') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Test (evaluate) a checkpoint on the test set.')
    p.add_argument('config', help='config file (.py, .yaml or .json)')
    p.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    p.add_argument('--out', help='write the predictions to this pickle file (.pkl)')
    p.add_argument('--dump', help='same as --out (MMPose spelling)')
    p.add_argument('--save-preds', action='store_true',
                   help='write the predictions to WORK_DIR/TIMESTAMP/predictions.pkl (MMOCR spelling)')
    p.add_argument('--eval', nargs='+', metavar='METRIC',
                   help='MMDetection 2.x: the metrics to compute, e.g. bbox segm (COCO) or mAP (VOC); sets the '
                        "test_evaluator's metric")
    p.add_argument('--eval-options', '--options', dest='eval_options', nargs='+', action=EvalOptionsAction,
                   default={}, metavar='KEY=VALUE',
                   help="MMDetection 2.x: evaluation options, e.g. classwise=True jsonfile_prefix=./results (set on "
                        "the test_evaluator's metrics); any other KEY (model.x=1, dist_params.port=29501) is a "
                        'config override; one bare PREFIX (no =) is jsonfile_prefix=PREFIX')
    # `-format-only`: one line of MMDetection's guide types it with one dash
    p.add_argument('--format-only', '-format-only', action='store_true',
                   help='MMDetection: write the result files without computing metrics (COCO test-dev: --options '
                        'jsonfile_prefix=PREFIX writes PREFIX.bbox.json / .segm.json; Cityscapes: --options '
                        'txtfile_prefix=DIR writes the txt + png files of the official server into DIR)')
    p.add_argument('--tta', action='store_true',
                   help="test-time augmentation (MMDetection): the config's tta_model wraps the model and its "
                        'tta_pipeline replaces the test pipeline (defaults: class-wise NMS 0.5 over a flipped and an '
                        'unflipped view)')
    add_common_args(p, options_alias=False)
    p.add_argument('--show-score-thr', type=float, default=None,
                   help='--show / --show-dir pictures leave out predictions scoring below this (default: the '
                        "config's default_hooks.visualization.score_thr, else 0.3)")
    return p



def config_parser(prog: str = 'visioncraft config') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='print the merged config (after _base_ and --cfg-options)')
    p.add_argument('config')
    add_cfg_options(p, help=None)
    p.add_argument('--format', choices=['py', 'yaml', 'json'], default='py')
    return p


# -- export and the exported models ---------------------------------------------------------------------------
def export_parser(prog: str = 'visioncraft export') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Export a trained model to TorchScript and ONNX with its '
                                              'pre- and post-processing settings (inference.json).')
    p.add_argument('config', help='config file (.py, .yaml or .json)')
    p.add_argument('checkpoint', help='checkpoint file (or http(s) URL)')
    p.add_argument('--out-dir', '--work-dir', dest='out_dir', required=True,
                   help='the inference directory to write (--work-dir: MMDeploy\'s name)')
    p.add_argument('--format', nargs='+', default=['torchscript', 'onnx'], metavar='FORMAT',
                   help='torchscript and/or onnx (default: both)')
    p.add_argument('--opset', type=int, default=None, help='ONNX opset (default 17)')
    add_cfg_options(p, help='override config entries before export (e.g. model.det_head.codec.box_thresh=0.5)')
    return p


def predict_parser(prog: str = 'visioncraft predict') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Run an exported model (text detection / recognition, pose, detector; no '
                                              'config needed; the task comes from inference.json).')
    p.add_argument('inputs', help='an image file or a folder of images')
    p.add_argument('--model-dir', required=True, help='a directory written by `visioncraft export`')
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime (model.onnx) or torchscript (model.pt)')
    add_device_arg(p)
    p.add_argument('--out-dir', default='inference_results',
                   help='where det_results.txt and pictures (rec_results.txt for a recogniser; '
                        'predictions/ and visualizations/ for pose; preds/ and vis/ for a detector) go')
    p.add_argument('--no-draw', action='store_true', help='do not write pictures')
    p.add_argument('--batch-size', type=int, default=8, help='word images per batch (recognisers)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='detectors: pictures leave out boxes scoring below this (the JSON keeps every one)')
    return p


def predict_det_parser(prog: str = 'tools/infer/predict_det.py') -> argparse.ArgumentParser:
    """PaddleOCR's ``tools/infer/predict_det.py`` flags (the device is ``--use_gpu``, as there)."""
    p = ArgumentParser(prog=prog, description="Text detection with an exported model, PaddleOCR's flags.")
    p.add_argument('--det_algorithm', default='DB', help='only DB (DBNet / DBNet++) exports exist')
    p.add_argument('--det_model_dir', required=True, help='a directory written by tools/export_model.py')
    p.add_argument('--image_dir', required=True, help='an image file or a folder of images')
    p.add_argument('--use_gpu', type=str2bool, default=False)
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime (model.onnx) or torchscript (model.pt)')
    p.add_argument('--det_db_thresh', type=float, default=None, help='binarisation threshold (default: exported)')
    p.add_argument('--det_db_box_thresh', type=float, default=None, help='box score threshold')
    p.add_argument('--det_db_unclip_ratio', type=float, default=None, help='un-shrink ratio')
    p.add_argument('--det_db_score_mode', choices=['fast', 'slow'], default=None)
    p.add_argument('--use_dilation', type=str2bool, default=None)
    p.add_argument('--det_box_type', choices=['quad', 'poly'], default=None)
    p.add_argument('--det_limit_side_len', type=int, default=None,
                   help="with --det_limit_type, replaces the exported resize by DetResizeForTest")
    p.add_argument('--det_limit_type', choices=['max', 'min'], default=None)
    p.add_argument('--draw_img_save_dir', default='./inference_results')
    return p


# -- ocr / pose -----------------------------------------------------------------------------------------------
def ocr_parser(prog: str = 'visioncraft ocr') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Detect and read text: a text detector and a recogniser, each a '
                                              'config file + checkpoint, an exported directory or a named model '
                                              '(PP-OCRv4, the default: PaddleOCR\'s system on the official weights).')
    p.add_argument('inputs', help='an image file or a folder of images (with --eval: the data root)')
    p.add_argument('--det', default=None,
                   help='text-detection config file, exported model directory or named model (PP-OCRv4; the default '
                        'when neither --det nor --rec is given)')
    p.add_argument('--det-weights', default=None, help='checkpoint of the --det config')
    p.add_argument('--rec', default=None,
                   help='text-recognition config file, exported model directory or named model (PP-OCRv4)')
    p.add_argument('--rec-weights', default=None, help='checkpoint of the --rec config')
    p.add_argument('--out-dir', default='ocr_results', help='where the JSON files and pictures go')
    p.add_argument('--batch-size', type=int, default=None,
                   help='word crops per recognition batch (default 8; 6, PaddleOCR\'s, for named models)')
    add_device_arg(p)
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime or torchscript (exported directories)')
    p.add_argument('--crop-margin', type=float, default=0.0,
                   help='grow each region by this share of its height on every side before reading it (e.g. 0.2)')
    p.add_argument('--no-draw', action='store_true', help='write the JSON files only, no pictures')
    p.add_argument('--eval', default=None, metavar='ANN',
                   help='MMOCR textdet JSON with transcriptions: run on its images and report e2e / det hmean')
    # named models (PP-OCRv4): the direction classifier and where the converted official weights are cached
    p.add_argument('--cls', action='store_true',
                   help='named models: also run the text-direction classifier, which turns upside-down lines round')
    p.add_argument('--cache-dir', default=None,
                   help='named models: where the converted official weights are cached (default '
                        '~/.cache/visioncraft, or $VISIONCRAFT_CACHE_DIR)')
    return p


def pose_parser(prog: str = 'visioncraft pose') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Detect persons and estimate their 2D poses (top-down).')
    p.add_argument('inputs', help="an image, a folder of images, a video file or 'webcam'")
    p.add_argument('--pose2d', default='human', help="pose config file, or the alias 'human' (COCO-17; needs "
                                                     '--pose2d-weights)')
    p.add_argument('--pose2d-weights', default=None, help='pose checkpoint')
    p.add_argument('--det-model', default=None, help='person detector config (default: the whole image is the box)')
    p.add_argument('--det-weights', default=None, help='person detector checkpoint')
    p.add_argument('--det-cat-ids', type=int, nargs='+', default=[0], help='detector labels that are persons')
    add_device_arg(p)
    p.add_argument('--out-dir', default='pose_results', help='where predictions/ and visualizations/ go')
    p.add_argument('--show', action='store_true', help='show the drawings in a window (q / Esc quits)')
    p.add_argument('--bbox-thr', type=float, default=0.3, help='person boxes scoring below this are dropped')
    p.add_argument('--nms-thr', type=float, default=0.3, help='IoU threshold of the person box NMS')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='keypoints scoring below this are not drawn')
    p.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    p.add_argument('--draw-heatmap', action='store_true', help='draw the predicted heatmaps under the image')
    p.add_argument('--show-kpt-idx', action='store_true', help='write each keypoint index next to it')
    p.add_argument('--radius', type=int, default=3, help='keypoint radius in pixels')
    p.add_argument('--thickness', type=int, default=1, help='link thickness in pixels')
    p.add_argument('--batch-size', type=int, default=1, help='images (frames) per result batch')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


# -- det ------------------------------------------------------------------------------------------------------
#: ``--palette`` choices (visioncraft.apis.det_inferencer.PALETTES, kept here so that parsing imports no torch)
DET_PALETTES = ('none', 'random', 'coco', 'voc', 'citys')


def add_det_inferencer_args(parser: argparse.ArgumentParser, *, out_dir: str = 'outputs') -> None:
    """MMDetection 3.x's ``demo/image_demo.py`` flags after its positionals: ``--weights --out-dir --device
    --pred-score-thr --batch-size --show --no-save-vis --no-save-pred --print-result --palette``."""
    parser.add_argument('--weights', default=None, help='checkpoint file or http(s) URL (not with an exported '
                                                        'model directory)')
    parser.add_argument('--out-dir', default=out_dir,
                        help=f'pictures go to OUT_DIR/vis/, predictions to OUT_DIR/preds/ (default: {out_dir})')
    add_device_arg(parser)
    parser.add_argument('--pred-score-thr', '--score-thr', dest='pred_score_thr', type=float, default=0.3,
                        help='draw the predictions scoring at least this (the JSON files hold them all)')
    parser.add_argument('--batch-size', type=int, default=1, help='images (video frames) per forward pass')
    parser.add_argument('--show', action='store_true', help='show each drawing in a window (needs a display)')
    parser.add_argument('--no-save-vis', action='store_true', help='do not write the drawings')
    parser.add_argument('--no-save-pred', action='store_true', help='do not write the JSON predictions')
    parser.add_argument('--print-result', action='store_true', help='print each prediction')
    parser.add_argument('--palette', default='none', choices=DET_PALETTES,
                        help="colours of the drawn classes: 'none' draws all predictions red, the others give each "
                             'class its own colour')


def det_parser(prog: str = 'visioncraft det') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Detect objects (boxes, and masks for instance segmentation) in '
                                              'images, a folder, a video or a camera, and write MMDetection-style '
                                              'JSON predictions and drawings.')
    p.add_argument('inputs', help="an image, a folder of images, a glob pattern ('imgs/*.jpg'), an http(s) URL, a "
                                  "video file or 'webcam'")
    p.add_argument('--model', required=True, help='detection config file, a model name (a config of '
                                                  'configs/{faster_rcnn,mask_rcnn,retinanet,fcos,...}/) or an '
                                                  'exported model directory')
    add_det_inferencer_args(p)
    return p


# -- import-weights -------------------------------------------------------------------------------------------
#: ``import-weights --model`` names (visioncraft.apis.ppocr_models.MODEL_ALIASES and PPOCR_MODELS, kept here so that
#: parsing imports no torch)
IMPORT_WEIGHTS_MODELS = ('ppocrv4_det', 'ppocrv4_rec', 'ppocr_cls', 'ppocrv4_mobile_det', 'ppocrv4_mobile_rec',
                         'ppocr_mobile_v2.0_cls')


def import_weights_parser(prog: str = 'visioncraft import-weights') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Import official PP-OCR weights (their ONNX file) into a checkpoint '
                                              'that training (load_from, Global.pretrained_model), test and export '
                                              'take, with the config that builds its model.')
    p.add_argument('src', help='the ONNX file, e.g. ch_PP-OCRv4_det_infer.onnx of rapidocr-onnxruntime, or PaddleOCR\'s '
                               'own: a .pdparams checkpoint, an inference model (.pdmodel + .pdiparams) or its folder')
    p.add_argument('--out', required=True, help='the checkpoint to write (.pth)')
    p.add_argument('--model', default=None, choices=IMPORT_WEIGHTS_MODELS,
                   help='which model the file holds (default: told from the file)')
    return p


# -- report ---------------------------------------------------------------------------------------------------
def report_parser(prog: str = 'visioncraft report') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Write one self-contained HTML page about a training run: its '
                                              'curves, final and best metrics, config and sample predictions.')
    p.add_argument('work_dir', help='the work dir of the run (WORK_DIR/TIMESTAMP/vis_data/scalars.json inside)')
    p.add_argument('--out', default=None, help='the HTML file to write (default: WORK_DIR/report.html)')
    p.add_argument('--num-samples', type=int, default=8,
                   help='sample pictures in the page (default 8; 0: none): those in the work dir, else the last '
                        'checkpoint run on the first N validation images')
    add_device_arg(p)
    return p


# -- PaddleOCR's tools (tools/eval.py, infer_det.py, infer_rec.py, export_model.py) ----------------------------
def _paddle_tool_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description=description)
    p.add_argument('-c', '--config', required=True, help='PaddleOCR-layout YAML config')
    p.add_argument('-o', '--opt', nargs='+', action=OverridesAction, default={}, metavar='KEY=VALUE',
                   help='override PaddleOCR keys: Global.checkpoints=PATH PostProcess.box_thresh=0.6 ... '
                        '(an unknown key is an error)')
    return p


def eval_parser(prog: str = 'tools/eval.py') -> argparse.ArgumentParser:
    return _paddle_tool_parser(prog, 'Evaluate a checkpoint on the Eval set of a PaddleOCR-layout config.')


def infer_det_parser(prog: str = 'tools/infer_det.py') -> argparse.ArgumentParser:
    return _paddle_tool_parser(prog, 'Detect text in an image or a folder with a PaddleOCR-layout config.')


def infer_rec_parser(prog: str = 'tools/infer_rec.py') -> argparse.ArgumentParser:
    return _paddle_tool_parser(prog, 'Recognise words in an image or a folder with a PaddleOCR-layout config.')


def export_model_parser(prog: str = 'tools/export_model.py') -> argparse.ArgumentParser:
    return _paddle_tool_parser(prog, 'Export a checkpoint of a PaddleOCR-layout config to an inference model.')


# -- serve ----------------------------------------------------------------------------------------------------
SERVE_MODEL_HELP = (
    'a model to serve: [NAME=]SOURCE[,WEIGHTS][+SOURCE[,WEIGHTS]]. SOURCE is a config file (WEIGHTS: its '
    'checkpoint), a model alias (det_shapes, retinanet, the name of a config of configs/retinanet/, '
    'configs/faster_rcnn/, ..., human; with WEIGHTS) or a directory written by `visioncraft export`; two parts '
    'joined with + are a text detector + a recogniser (OCR) or a pose model + a person detector. NAME (default: '
    'the first file or folder name) is the URL\'s /v1/models/NAME/predict. Example: '
    'det=configs/quickstart/det_shapes.py,work_dirs/quickstart/epoch_16.pth')


def serve_parser(prog: str = 'visioncraft serve') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Serve models over HTTP (FastAPI + uvicorn; pip install '
                                              "'visioncraft[serve]'): POST /v1/models/NAME/predict with an image, a "
                                              'web page at /, GET /v1/models, /healthz, /metrics. See docs/serve.md.')
    p.add_argument('models', nargs='+', metavar='MODEL', help=SERVE_MODEL_HELP)
    p.add_argument('--host', default='127.0.0.1',
                   help='address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the '
                        'network, with no authentication)')
    p.add_argument('--port', type=int, default=8000, help='port to listen on (default 8000)')
    add_device_arg(p)
    p.add_argument('--backend', default='onnxruntime', help='onnxruntime or torchscript (exported directories)')
    p.add_argument('--max-batch', type=int, default=8, help='images per model call: requests that arrive together '
                                                            'are batched up to this (default 8)')
    p.add_argument('--batch-wait-ms', type=float, default=5.0,
                   help='how long a batch waits for more requests once it holds one (default 5 ms)')
    p.add_argument('--max-queue', type=int, default=64,
                   help='requests that may wait per model; more are answered 503 with Retry-After (default 64)')
    p.add_argument('--max-image-mb', type=float, default=20.0,
                   help='largest image file a request may send, in MiB (default 20; larger: 413)')
    p.add_argument('--max-image-pixels', type=int, default=40_000_000,
                   help='largest picture (width x height) a request may send (default 40,000,000; larger: 413)')
    p.add_argument('--log-level', default='info', choices=['critical', 'error', 'warning', 'info', 'debug'],
                   help="uvicorn's log level (default info: one access line per request)")
    return p


#: every command :func:`visioncraft.cli.main.run_command` runs: the ``visioncraft`` subcommands and the tools
PARSERS: dict[str, Callable[..., argparse.ArgumentParser]] = {
    'train': train_parser, 'test': test_parser, 'config': config_parser, 'export': export_parser,
    'predict': predict_parser, 'ocr': ocr_parser, 'pose': pose_parser,
    'eval': eval_parser, 'infer_det': infer_det_parser, 'infer_rec': infer_rec_parser,
    'export_model': export_model_parser, 'predict_det': predict_det_parser,
}
PARSERS['det'] = det_parser
PARSERS['report'] = report_parser
PARSERS['import-weights'] = import_weights_parser
PARSERS['serve'] = serve_parser


def models_parser(prog: str = 'visioncraft models') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='List the named models (the model index): each name works where a '
                                              'config is taken; its weights download on first use.')
    p.add_argument('--task', choices=['det', 'textdet', 'textrecog', 'textcls', 'pose'],
                   help='only the models of this task')
    p.add_argument('--json', action='store_true', help='print the index as JSON instead of a table')
    p.add_argument('--download', metavar='NAME', help="download (and convert) NAME's weights into the cache now and "
                                                      'print the checkpoint path')
    return p


__all__ += ['models_parser']
PARSERS['models'] = models_parser


def build_parser(command: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` (a key of :data:`PARSERS`), with ``prog`` (default: the command's own)."""
    make = PARSERS[command]
    return make() if prog is None else make(prog)


# -- the demos (demo/*.py) ------------------------------------------------------------------------------------
def add_model_args(parser: argparse.ArgumentParser, *, score_thr: float = 0.3,
                   checkpoint_optional: bool = False) -> None:
    """``CONFIG CHECKPOINT --device --score-thr``, as every detection demo takes them."""
    parser.add_argument('config', help='model config file')
    if checkpoint_optional:
        parser.add_argument('checkpoint', nargs='?', default=None, help='checkpoint file or URL (default: none)')
    else:
        parser.add_argument('checkpoint', help='checkpoint file or URL')
    add_device_arg(parser)
    parser.add_argument('--score-thr', type=float, default=score_thr, help='hide predictions scoring below this')


def add_video_output_args(parser: argparse.ArgumentParser) -> None:
    """``--out FILE --show --wait-time S`` for the demos that draw a video; at least one of ``--out`` and
    ``--show`` must be given (checked by :func:`check_video_output_args`)."""
    parser.add_argument('--out', default=None, help='write the drawn frames to this video file (.mp4, .avi...)')
    parser.add_argument('--show', action='store_true', help='show the drawn frames in a window (q / Esc quits)')
    parser.add_argument('--wait-time', type=float, default=0.001,
                        help='seconds each shown frame stays (default 0.001: as fast as the model runs)')


def check_video_output_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not (args.out or args.show):
        parser.error('say what to do with the drawn frames: --out FILE, --show, or both')
