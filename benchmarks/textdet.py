"""DBNet-R18 inference speed at ICDAR 2015 size: eager PyTorch against the exported ONNX model on onnxruntime.

    OMP_NUM_THREADS=1 python benchmarks/textdet.py [--checkpoint CKPT] [--iters 5] [--threads 1] [--json FILE]

One run measures, for each backend, the model alone (preprocessed 1 x 3 x 736 x 1312 batch -> probability map)
and end to end (an H x W x 3 BGR image -> preprocessing (the config's test pipeline + normalisation / padding)
-> model -> DB post-processing -> polygons in image pixels), and prints images/s, the post-processing share of
the end-to-end time and the ONNX / eager ratios. The two backends alternate iteration by iteration (medians are
reported), so a load change on a shared machine hits both.

The input is a generated 1280 x 720 ICDAR-like scene (words rendered, rotated and perspective-warped on a
textured background; ICDAR 2015 averages ~11 words an image, this one has more). The model is
configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py built without the ImageNet download. Random
weights give a meaningless probability map (empty, or one blob), which would make post-processing look free or
absurdly slow, so without ``--checkpoint`` the decoder is timed on a realistic map: the ground-truth polygons'
shrunk kernels (DBCodec.encode) at the model's input resolution, blurred like a trained network's map
(Gaussian, sigma 1.5 px). With ``--checkpoint`` each backend's own map is decoded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIG = REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py'


def scene(height: int = 720, width: int = 1280, seed: int = 0):
    """(BGR uint8 H x W x 3 image, list of flat polygons, list of ignore flags)."""
    from visioncraft.data.synthetic.text import available_fonts, render_text_image
    rng = np.random.default_rng(seed)
    img, instances = render_text_image(rng, (height, width), available_fonts('auto'), max_words=40)
    return img, [np.asarray(i['polygon'], np.float32) for i in instances], [bool(i['ignore']) for i in instances]


def realistic_map(codec, polygons, ignored, meta) -> np.ndarray:
    """A DBNet-like probability map at the resized image's size: GT kernels, blurred."""
    import cv2
    sx, sy = meta['scale_factor']
    h, w = meta['img_shape'][:2]
    scaled = [(p.reshape(-1, 2) * [sx, sy]).reshape(-1) for p in polygons]
    kernels = codec.encode(scaled, ignored, (h, w))['shrink_map']
    return np.clip(cv2.GaussianBlur(kernels, (0, 0), 1.5) * 1.1, 0, 1).astype(np.float32)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--checkpoint', help='trained DBNet-R18 weights (decode the model\'s own map)')
    p.add_argument('--iters', type=int, default=5, help='timed iterations per backend (after one warm-up)')
    p.add_argument('--threads', type=int, default=None, help='threads for both backends (default: torch\'s)')
    p.add_argument('--json', help='write the figures to this file')
    args = p.parse_args(argv)

    import torch

    import visioncraft  # noqa: F401
    from visioncraft.export import TextDetPredictor, export_model
    from visioncraft.export.core import build_model_for_export
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    img, polys, ignored = scene()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        export_model(str(CONFIG), args.checkpoint, tmp, formats=('onnx',))
        export_s = time.perf_counter() - t0
        ort = TextDetPredictor(tmp, backend='onnxruntime', num_threads=threads)
        model = build_model_for_export(str(CONFIG), args.checkpoint)
        codec = model.det_head.codec
        batch, meta = ort.preprocess(img)
        fixed_map = None if args.checkpoint else realistic_map(codec, polys, ignored, meta)

        def eager_forward(b):
            with torch.no_grad():
                return model(b, mode='tensor')

        backends = {'eager': eager_forward, 'onnxruntime': ort.forward}
        times = {b: {k: [] for k in ('model', 'pre', 'fwd', 'post', 'e2e')} for b in backends}
        found = {}
        for it in range(args.iters + 1):
            for name, forward in backends.items():
                t0 = time.perf_counter()
                forward(batch)
                t_model = time.perf_counter() - t0
                # end to end: the same preprocessing and decoder code for both backends
                t0 = time.perf_counter()
                b, m = ort.preprocess(img)
                t1 = time.perf_counter()
                prob = forward(b)[0]
                t2 = time.perf_counter()
                if fixed_map is None:
                    out = ort.postprocess(prob, m)
                else:
                    out = codec.decode(fixed_map, scale_factor=m['scale_factor'], ori_shape=m['ori_shape'])
                t3 = time.perf_counter()
                found[name] = len(out[0])
                if it == 0:
                    continue  # warm-up
                for k, v in (('model', t_model), ('pre', t1 - t0), ('fwd', t2 - t1), ('post', t3 - t2),
                             ('e2e', t3 - t0)):
                    times[name][k].append(v)

    med = {b: {k: statistics.median(v) for k, v in t.items()} for b, t in times.items()}
    words = sum(not i for i in ignored)
    print(f'DBNet-R18 (configs/textdet/dbnet/{CONFIG.name}), input 1 x 3 x {batch.shape[-2]} x {batch.shape[-1]} '
          f'from a 1280 x 720 image, {threads} thread(s), median of {args.iters} iterations; ONNX export took '
          f'{export_s:.1f} s')
    if fixed_map is not None:
        print(f'post-processing timed on a realistic probability map: the {words} ground-truth words (+ '
              f'{len(polys) - words} do-not-care) of a generated ICDAR-like scene, shrunk kernels blurred '
              f'(random weights give a meaningless map); decoded into {found["eager"]} polygons')
    else:
        print(f'post-processing decodes each backend\'s own map ({args.checkpoint}): {found}')
    print(f'{"":<13}{"model img/s":>12}{"e2e img/s":>11}{"pre ms":>8}{"model ms":>10}{"post ms":>9}{"post share":>12}')
    for b, m in med.items():
        print(f'{b:<13}{1 / m["model"]:>12.2f}{1 / m["e2e"]:>11.2f}{m["pre"] * 1e3:>8.1f}{m["fwd"] * 1e3:>10.1f}'
              f'{m["post"] * 1e3:>9.1f}{m["post"] / m["e2e"]:>11.1%}')
    ratio_model = med['eager']['model'] / med['onnxruntime']['model']
    ratio_e2e = med['eager']['e2e'] / med['onnxruntime']['e2e']
    share = max(m['post'] / m['e2e'] for m in med.values())
    print(f'ONNX / eager throughput: model {ratio_model:.2f}x, end to end {ratio_e2e:.2f}x')
    print(f'post-processing share of end-to-end time: at most {share:.1%} (target < 15%: '
          f'{"met" if share < 0.15 else "NOT met"})')
    result = dict(input_shape=list(batch.shape), threads=threads, iters=args.iters, medians_s=med,
                  ratio_onnx_over_eager_model=ratio_model, ratio_onnx_over_eager_e2e=ratio_e2e,
                  post_share_max=share, polygons=found, checkpoint=args.checkpoint,
                  load=os.getloadavg()[0])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
