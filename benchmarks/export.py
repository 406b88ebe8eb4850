"""Exported vs eager inference, end to end, for every task with an exporter: text detection, text recognition (CTC
and attention), top-down pose and object detection.

    OMP_NUM_THREADS=2 python benchmarks/export.py [--rounds 3] [--tasks textdet ctc attention pose-heatmap
        pose-simcc retinanet faster-rcnn] [--threads N] [--json FILE]

For each task: a model from a config in configs/ with random weights (seeded; no download), exported to a temporary
directory (TorchScript + ONNX), then three ways over the same inputs, alternating within every round so that a
load change on a shared machine hits all three:

* ``eager``: the inference API on the checkpoint path (config test pipeline, ``model.test_step``, decoding):
  ``inference_detector`` (text detection / recognition, detection) or ``inference_topdown`` +
  ``merge_data_samples`` (pose);
* ``onnxruntime`` and ``torchscript``: ``load_predictor(dir, backend)`` on the same image (the same pipeline and
  decoding code around the exported graphs).

Printed per task: the median wall time per call of each (after two warm-up calls: TorchScript's profiling
executor optimises on the second), and exported / eager. The
default run leaves out Faster R-CNN (``--tasks faster-rcnn`` adds it: ~1 more minute on two cores). A task whose
model no registered exporter handles (``find_exporter``; e.g. detection before its exporters land) is skipped with
a line saying so. Inputs: text detection a 320 x 480 generated text scene; recognition one 32 x 100 word crop; pose
one 480 x 640 image with 2 person boxes (flip test on, as the configs say); detection a 480 x 640 image, the test
resize replaced by 384 x 256 (``keep_ratio``) and RetinaNet's MobileNetV3 config, to keep the default run short
(exporting a ResNet-50 model, tracing and the onnxruntime check, takes 10-30 s on two cores). Random weights decide
nothing here but how long the data-dependent steps run: DB post-processing sees a random map, detection
post-processing random scores, and an attention recogniser stops whenever its random end token wins (the same
steps in all three ways).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# task -> (config, kind of input, how to shrink the config for a quick run)
TASKS = {
    'textdet': ('configs/quickstart/textdet_synth.py', 'scene', None),
    'ctc': ('configs/quickstart/textrecog_synth.py', 'word', None),
    'attention': ('configs/textrecog/svtr/svtr-tiny-attn_20e_st_mj.py', 'word', None),
    'pose-heatmap': ('configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py', 'persons',
                     None),
    'pose-simcc': ('configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py', 'persons', None),
    'retinanet': ('configs/retinanet/retinanet_mobilenetv3-large_fpn_1x_coco.py', 'photo', (384, 256)),
    'faster-rcnn': ('configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'photo', (384, 256)),
}
#: the default run: every task, detection by RetinaNet (Faster R-CNN adds ~1 min on two cores: --tasks faster-rcnn)
DEFAULT_TASKS = [t for t in TASKS if t != 'faster-rcnn']
#: untimed rounds first: TorchScript's profiling executor optimises a graph on its second call
WARMUP = 2
BOXES = np.array([[40, 60, 200, 420], [220, 40, 380, 460]], np.float32)  # two persons


def make_input(kind: str):
    rng = np.random.default_rng(0)
    if kind == 'scene':
        from visioncraft.data.synthetic.text import available_fonts, render_text_image
        img, _ = render_text_image(rng, (320, 480), available_fonts('default'), max_words=12)
        return img
    if kind == 'word':
        import cv2
        img = np.full((32, 100, 3), 230, np.uint8)
        cv2.putText(img, 'export', (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (20, 20, 20), 2)
        return img
    import cv2
    img = rng.integers(0, 256, (480, 640, 3)).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), 3.0).astype(np.uint8)


def load_config(path: str, resize):
    """The config, with its test resize replaced by ``resize`` (w, h, keep_ratio) when given."""
    from visioncraft.config import Config
    cfg = Config.fromfile(str(REPO / path))
    if resize is not None:
        for step in cfg.test_dataloader.dataset.pipeline:
            if str(step.get('type', '')).endswith('Resize'):
                step['scale'] = tuple(resize)
                step['keep_ratio'] = True
    return cfg


def run_task(name: str, rounds: int, threads: int) -> dict | None:
    import torch

    from visioncraft.apis import inference_detector, inference_topdown, merge_data_samples
    from visioncraft.config import ConfigError
    from visioncraft.export import export_model, load_predictor
    from visioncraft.export.core import build_model_for_export, find_exporter
    path, kind, resize = TASKS[name]
    cfg = load_config(path, resize)
    torch.manual_seed(0)
    model = build_model_for_export(cfg, None)
    try:
        exporter = find_exporter(model)
    except ConfigError as exc:
        print(f'{name}: skipped, no exporter matches {type(model).__name__} ({path}): {str(exc).splitlines()[0]}')
        return None
    img = make_input(kind)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / 'random.pth'
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
        t0 = time.perf_counter()
        export_model(cfg, str(ckpt), Path(tmp) / 'export')
        export_s = time.perf_counter() - t0
        predictors = {b: load_predictor(Path(tmp) / 'export', backend=b, **({'num_threads': threads}
                                                                            if b == 'onnxruntime' else {}))
                      for b in ('onnxruntime', 'torchscript')}
        if kind == 'persons':
            def eager():
                return merge_data_samples(inference_topdown(model, img, BOXES))
            calls = {'eager': eager, **{b: (lambda p=p: p(img, BOXES)) for b, p in predictors.items()}}
        else:
            calls = {'eager': lambda: inference_detector(model, img),
                     **{b: (lambda p=p: p(img)) for b, p in predictors.items()}}
        times: dict[str, list[float]] = {k: [] for k in calls}
        with torch.no_grad():
            for r in range(WARMUP + rounds):
                for k, call in calls.items():
                    t0 = time.perf_counter()
                    call()
                    if r >= WARMUP:
                        times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(task=name, config=path, exporter=exporter.__name__, export_s=export_s,
                ms={k: v * 1e3 for k, v in med.items()},
                ratio={k: med[k] / med['eager'] for k in ('onnxruntime', 'torchscript')})


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=3, help=f'timed rounds per task (after {WARMUP} warm-up rounds)')
    p.add_argument('--tasks', nargs='+', default=DEFAULT_TASKS, choices=list(TASKS), metavar='TASK',
                   help=f'which ({", ".join(TASKS)}; default all but faster-rcnn)')
    p.add_argument('--threads', type=int, default=None, help="torch's and onnxruntime's threads (default torch's)")
    p.add_argument('--json', help='write the figures to this file')
    args = p.parse_args(argv)

    import logging

    import torch
    logging.getLogger('visioncraft').setLevel(logging.ERROR)  # "no checkpoint" / metainfo notes of random models
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f'torch {torch.__version__}, {threads} thread(s), {args.rounds} rounds; median ms per call, end to end '
          '(pipeline + model + decoding)')
    rows = []
    t_all = time.perf_counter()
    for name in args.tasks:
        row = run_task(name, args.rounds, threads)
        if row is not None:
            rows.append(row)
            print(f'  {name}: done (export {row["export_s"]:.1f} s)', flush=True)
    head = f'{"task":<14}{"exporter":<24}{"eager":>9}{"onnxrt":>9}{"tscript":>9}{"ort/eager":>11}{"ts/eager":>10}'
    print(head)
    print('-' * len(head))
    for r in rows:
        ms, ratio = r['ms'], r['ratio']
        print(f'{r["task"]:<14}{r["exporter"]:<24}{ms["eager"]:>9.1f}{ms["onnxruntime"]:>9.1f}'
              f'{ms["torchscript"]:>9.1f}{ratio["onnxruntime"]:>11.2f}{ratio["torchscript"]:>10.2f}')
    print(f'total {time.perf_counter() - t_all:.0f} s')
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + '\n')
    return rows


if __name__ == '__main__':
    main()
