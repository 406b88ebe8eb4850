"""End-to-end OCR speed: recognition crops/s (batch 1 and batched) and end-to-end images/s on synthetic scenes,
with the share of time in each stage, for eager PyTorch (config + weights) and ONNX Runtime (exported) in one run.

    OMP_NUM_THREADS=1 python benchmarks/ocr.py [--det-weights CKPT] [--rec-weights CKPT] [--scenes 20]
        [--batch-size 32] [--device cpu] [--threads 1] [--json FILE]

Models: the two quickstart configs (configs/quickstart/textdet_synth.py: a small DBNet on 320 x 320 scenes;
configs/quickstart/textrecog_synth.py: a small CRNN on 32-pixel-high grey words padded to 128), with random
weights unless checkpoints are given (speed does not depend on the weights, except through the number of text
regions the detector finds). Both are exported (TorchScript + ONNX) into a temporary folder for the ONNX
Runtime rows.

Scenes: ``--scenes`` 320 x 320 pictures generated at run time by the text-detection generator (the
quickstart's size and word density). A detector with random weights finds nothing meaningful, so without
``--det-weights`` the crop and recognition stages run on the scenes' ground-truth word polygons (what a trained
detector finds, give or take); with ``--det-weights`` they run on the detector's own polygons.

Stages (seconds summed over the scenes, shown as shares of the end-to-end time): ``det_pre`` (test pipeline +
normalisation / padding), ``det_model`` (network; on the PyTorch path it also holds the DB decoding, which runs
inside ``model(..., mode='predict')``), ``det_post`` (DB decoding, ONNX path), ``crop`` (perspective-rectified
crops), ``rec`` (recognition of all crops of the scene in batches of ``--batch-size``, sorted by width,
including its preprocessing and CTC decoding).

``--ppocr``: PP-OCRv4 with the official weights, end to end (detect, order, crop, [classify,] read): our eager
PyTorch system (``PPOCRSystem``) and our exported one (the weights imported, ``visioncraft export``-ed to ONNX, run
by :func:`visioncraft.export.ppocr.load_exported_ppocr` on ONNX Runtime with the reference's session options)
against the reference ONNX Runtime pipeline (``ReferencePPOCR``: rapidocr's port of PaddleOCR's inference at
PaddleOCR's settings, the official ONNX files), on the same real photos, alternating in every round (the order
flips each round); per photo the median ms of each and the ratios to the reference, and the stage times::

    OMP_NUM_THREADS=1 python benchmarks/ocr.py --ppocr [--rounds 5] [--threads 1] [--cls] [--cache-dir DIR]

Photos (scikit-image, BGR): ``page`` (a scanned book page, 191 x 384), ``page_x2`` (the same, twice the size),
``text`` (slanted handwriting, 172 x 448), ``coffee`` (400 x 600) and ``rocket`` (427 x 640). The pipelines must
read the same lines (checked after the warm-up; a difference is printed).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DET_CONFIG = REPO / 'configs/quickstart/textdet_synth.py'
REC_CONFIG = REPO / 'configs/quickstart/textrecog_synth.py'


def scenes(n: int, size=(320, 320), seed: int = 123):
    """``n`` (BGR image, ground-truth polygons of the readable words) pairs."""
    from visioncraft.data.synthetic.text import available_fonts, render_text_image
    fonts = available_fonts('auto')
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        img, inst = render_text_image(rng, size, fonts, max_words=8, ignore_ratio=0.1)
        out.append((img, [np.asarray(x['polygon'], np.float32) for x in inst if not x['ignore']]))
    return out


def build(det_weights, rec_weights, device: str, tmp: Path, batch_size: int, threads: int | None):
    """``{'pytorch': OCRInferencer, 'onnxruntime': OCRInferencer}``."""
    import torch

    from visioncraft.apis import OCRInferencer
    from visioncraft.engine.checkpoint import save_checkpoint
    from visioncraft.export import export_model
    from visioncraft.export.core import build_model_for_export
    weights = {}
    for name, cfg, ckpt in (('det', DET_CONFIG, det_weights), ('rec', REC_CONFIG, rec_weights)):
        if ckpt is None:  # random initialisation, saved so both paths run the same weights
            torch.manual_seed(0)
            model = build_model_for_export(str(cfg), None)
            ckpt = tmp / f'{name}_random.pth'
            save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=('text',)))),
                            ckpt)
        weights[name] = str(ckpt)
        export_model(str(cfg), str(ckpt), tmp / f'{name}_export')
    return {
        'pytorch': OCRInferencer(str(DET_CONFIG), str(REC_CONFIG), det_weights=weights['det'],
                                 rec_weights=weights['rec'], device=device, batch_size=batch_size),
        'onnxruntime': OCRInferencer(str(tmp / 'det_export'), str(tmp / 'rec_export'), device=device,
                                     batch_size=batch_size, backend='onnxruntime', num_threads=threads),
    }


def run_scene(ocr, img, gt_polys, use_gt: bool) -> int:
    """One scene through detect -> crop -> recognise, timed per stage in ``ocr.timings``; returns #crops."""
    from visioncraft.tasks.textrecog.utils import crop_text_region
    polys, _scores = ocr.detector(img, ocr.timings)
    if use_gt:
        polys = gt_polys
    t0 = time.perf_counter()
    crops = [crop_text_region(img, p) for p in polys]
    ocr.timings['crop'] += time.perf_counter() - t0
    ocr.recognize(crops)
    return len(crops)


def ppocr_photos() -> dict[str, np.ndarray]:
    """The ``--ppocr`` photos (BGR uint8)."""
    import cv2
    from skimage import data as skdata
    page = cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)
    return dict(page=page, page_x2=cv2.resize(page, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC),
                text=cv2.cvtColor(skdata.text(), cv2.COLOR_GRAY2BGR),
                coffee=np.ascontiguousarray(skdata.coffee()[..., ::-1]),
                rocket=np.ascontiguousarray(skdata.rocket()[..., ::-1]))


def export_ppocr(tmp: Path, use_angle_cls: bool, threads: int):
    """The official weights imported, exported (``visioncraft export``: ONNX) into ``tmp`` and loaded as the PP-OCR
    system on ONNX Runtime (:func:`visioncraft.export.ppocr.load_exported_ppocr`, ``threads`` intra-op threads)."""
    from visioncraft.apis.ppocr_weights import import_ppocr_weights
    from visioncraft.export import export_model
    from visioncraft.export.ppocr import load_exported_ppocr
    cfgs = dict(det=('ppocrv4_mobile_det', 'configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py'),
                rec=('ppocrv4_mobile_rec', 'configs/ppocr/ppocrv4_mobile_rec.py'),
                cls=('ppocr_mobile_v2.0_cls', 'configs/_base_/models/ppocr_mobile_v2.0_cls.py'))
    dirs = {}
    for key, (name, cfg) in cfgs.items():
        if key == 'cls' and not use_angle_cls:
            continue
        import_ppocr_weights(name, out_file=tmp / f'{key}.pth')
        export_model(str(REPO / cfg), str(tmp / f'{key}.pth'), tmp / key, formats=('onnx',))
        dirs[key] = tmp / key
    system = load_exported_ppocr(dirs['det'], dirs['rec'], dirs.get('cls'), num_threads=threads)
    # the reference's session options exactly (rapidocr's OrtInferSession: no CPU memory arena, all graph
    # optimisations, intra-op threads = threads, inter-op 1), so the comparison is the pipelines, not the settings
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.enable_cpu_mem_arena = False
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    for key, model in (('det', system.det), ('rec', system.rec), ('cls', system.cls)):
        if model is not None:
            model.predictor.runtime.session = ort.InferenceSession(str(dirs[key] / 'model.onnx'), opts,
                                                                   providers=['CPUExecutionProvider'])
    return system


def ppocr_main(args) -> dict:
    """``--ppocr``: our eager PP-OCRv4 system against the ONNX Runtime reference, alternating (see the module doc)."""
    import torch

    from visioncraft.apis.ppocr_models import PPOCRRunner
    from visioncraft.apis.ppocr_reference import ReferencePPOCR
    threads = args.threads or 1
    torch.set_num_threads(threads)
    ours = PPOCRRunner('PP-OCRv4', use_angle_cls=args.cls, device=args.device, cache_dir=args.cache_dir).system
    ref = ReferencePPOCR(use_angle_cls=args.cls, num_threads=threads)
    exported = export_ppocr(Path(tempfile.mkdtemp(prefix='ppocr_bench_')), args.cls, threads)
    photos = ppocr_photos()
    pipelines = {'pytorch': lambda img: [ln.text for ln in ours(img)],
                 'exported': lambda img: [ln.text for ln in exported(img)],
                 'onnxruntime': lambda img: [text for _, text, _ in ref(img)]}
    stages = {'pytorch': ours, 'exported': exported, 'onnxruntime': ref}
    report: dict = dict(rounds=args.rounds, threads=threads, device=args.device, use_angle_cls=args.cls,
                        torch=torch.__version__, photos={})
    lines = {}
    for name, img in photos.items():  # warm-up, and the two must read the same
        read = {k: f(img) for k, f in pipelines.items()}
        lines[name] = read['pytorch']
        if any(v != read['onnxruntime'] for v in read.values()):
            print(f'{name}: the readings differ: ' + ' / '.join(f'{k} {v}' for k, v in read.items()))
    times = {n: {k: [] for k in pipelines} for n in photos}
    stage_times = {k: {s: [] for s in ('det', 'crop_cls', 'rec')} for k in pipelines}
    for r in range(args.rounds):
        order = list(pipelines) if r % 2 == 0 else list(pipelines)[::-1]  # alternate which one goes first
        for name, img in photos.items():
            for k in order:
                t0 = time.perf_counter()
                pipelines[k](img)
                times[name][k].append(time.perf_counter() - t0)
                for s, v in stages[k].timings.items():
                    stage_times[k][s].append(v)
    print(f'PP-OCRv4 end to end{" with the direction classifier" if args.cls else ""}: our eager PyTorch system '
          f'and our exported one (ONNX Runtime) against the ONNX Runtime reference; {args.rounds} rounds, '
          f'alternating; median ms; torch {torch.__version__}, {threads} thread(s), device {args.device}, OMP_NUM_THREADS='
          f'{os.environ.get("OMP_NUM_THREADS")}')
    print('| photo | size | lines | eager ms | exported ms | reference ms | eager / ref | exported / ref |')
    print('|---|---|---|---|---|---|---|---|')
    total = {k: 0.0 for k in pipelines}
    for name, img in photos.items():
        med = {k: 1000 * float(np.median(v)) for k, v in times[name].items()}
        for k in total:
            total[k] += med[k]
        report['photos'][name] = dict(size=list(img.shape[:2]), lines=lines[name], ms=med,
                                      ratio=med['pytorch'] / med['onnxruntime'],
                                      exported_ratio=med['exported'] / med['onnxruntime'])
        print(f'| {name} | {img.shape[0]} x {img.shape[1]} | {len(lines[name])} | {med["pytorch"]:.0f} | '
              f'{med["exported"]:.0f} | {med["onnxruntime"]:.0f} | {med["pytorch"] / med["onnxruntime"]:.2f} | '
              f'{med["exported"] / med["onnxruntime"]:.2f} |')
    print(f'| all | | | {total["pytorch"]:.0f} | {total["exported"]:.0f} | {total["onnxruntime"]:.0f} | '
          f'{total["pytorch"] / total["onnxruntime"]:.2f} | {total["exported"] / total["onnxruntime"]:.2f} |')
    report['total_ms'] = total
    report['stage_ms_sum'] = {k: {s: 1000 * float(np.sum(v)) / args.rounds for s, v in st.items()}
                              for k, st in stage_times.items()}
    print('per round, summed over the photos (ms): ' + '; '.join(
        f'{k}: ' + ', '.join(f'{s} {v:.0f}' for s, v in st.items()) for k, st in report['stage_ms_sum'].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
    return report


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--det-weights', help='text-detection quickstart checkpoint (default: random weights)')
    p.add_argument('--rec-weights', help='text-recognition quickstart checkpoint (default: random weights)')
    p.add_argument('--scenes', type=int, default=20, help='synthetic 320 x 320 scenes')
    p.add_argument('--batch-size', type=int, default=32, help='crops per recognition batch (batched rows)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None, help='torch / onnxruntime threads (default: torch\'s)')
    p.add_argument('--json', help='write the figures to this file')
    # --ppocr: PP-OCRv4 (official weights), our eager system against the ONNX Runtime reference
    p.add_argument('--ppocr', action='store_true', help='PP-OCRv4 end to end: eager PyTorch vs ONNX Runtime')
    p.add_argument('--rounds', type=int, default=5, help='--ppocr: timed rounds over the photos')
    p.add_argument('--cls', action='store_true', help='--ppocr: with the direction classifier')
    p.add_argument('--cache-dir', default=None, help='--ppocr: cache of the converted official weights')
    args = p.parse_args(argv)
    if args.ppocr:
        return ppocr_main(args)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    data = scenes(args.scenes)
    use_gt = args.det_weights is None
    with tempfile.TemporaryDirectory() as d:
        ocrs = build(args.det_weights, args.rec_weights, args.device, Path(d), args.batch_size, args.threads)
        from visioncraft.tasks.textrecog.utils import crop_text_region
        crops = [crop_text_region(img, poly) for img, polys in data for poly in polys]
        report: dict = dict(scenes=len(data), crops=len(crops), batch_size=args.batch_size, device=args.device,
                            det_weights=args.det_weights or 'random', rec_weights=args.rec_weights or 'random',
                            crop_source='ground truth' if use_gt else 'detector', backends={})
        for name, ocr in ocrs.items():
            run_scene(ocr, *data[0], use_gt)  # warm-up
            ocr.recognize(crops[:args.batch_size])
            r: dict = {}
            # recognition alone, batch 1 and batched
            t0 = time.perf_counter()
            for c in crops:
                ocr.recognizer([c])
            r['rec_crops_per_s_batch1'] = len(crops) / (time.perf_counter() - t0)
            ocr.reset_timings()
            t0 = time.perf_counter()
            ocr.recognize(crops)
            r[f'rec_crops_per_s_batch{args.batch_size}'] = len(crops) / (time.perf_counter() - t0)
            # end to end
            ocr.reset_timings()
            n_crops = 0
            t0 = time.perf_counter()
            for img, polys in data:
                n_crops += run_scene(ocr, img, polys, use_gt)
            total = time.perf_counter() - t0
            r['e2e_images_per_s'] = len(data) / total
            r['e2e_crops'] = n_crops
            r['stage_share'] = {k: v / total for k, v in ocr.timings.items()}
            r['stage_ms_per_image'] = {k: 1000 * v / len(data) for k, v in ocr.timings.items()}
            report['backends'][name] = r
    print(f'{report["scenes"]} scenes 320x320; recognition rows: {report["crops"]} ground-truth word crops; end to '
          f'end: {report["crop_source"]} polygons ({next(iter(report["backends"].values()))["e2e_crops"]} crops); '
          f'det weights: {report["det_weights"]}, rec weights: {report["rec_weights"]}, device {args.device}, '
          f'torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}')
    bk = f'rec_crops_per_s_batch{args.batch_size}'
    print(f'| backend | rec crops/s batch 1 | rec crops/s batch {args.batch_size} | e2e img/s | det_pre | det_model '
          f'| det_post | crop | rec |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, r in report['backends'].items():
        sh = r['stage_share']
        print(f'| {name} | {r["rec_crops_per_s_batch1"]:.0f} | {r[bk]:.0f} | {r["e2e_images_per_s"]:.1f} | '
              + ' | '.join(f'{100 * sh[k]:.0f}% ({r["stage_ms_per_image"][k]:.1f} ms)'
                           for k in ('det_pre', 'det_model', 'det_post', 'crop', 'rec')) + ' |')
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
    return report


if __name__ == '__main__':
    main()
