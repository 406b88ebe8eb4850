"""Mixed precision on the CPU: one training step (forward, backward) of a text detector in float32 and under
bfloat16 autocast, alternated in this process, and the ratio bfloat16 / float32.

Why: ``--amp`` (MMOCR) and ``Global.use_amp=True`` (PaddleOCR) on a CPU use bfloat16 autocast. A CPU without
native bfloat16 (AVX512-BF16 or AMX) emulates it; there it is many times slower than float32, so
``AmpOptimWrapper`` (``cpu_bf16='auto'``) trains in float32 on such a CPU and says so. This script prints the
measured ratio next to what PyTorch reports about the CPU.

    python benchmarks/cpu_amp.py [--config configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py]
                                 [--size 640] [--batch-size 2] [--repeats 3] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from visioncraft.config import Config
from visioncraft.engine.optim.wrapper import cpu_has_native_bf16
from visioncraft.registry import MODELS

REPO = Path(__file__).resolve().parents[1]


def _step(model: torch.nn.Module, x: torch.Tensor, bf16: bool) -> float:
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        out = model(x, mode='tensor')
    outs = out if isinstance(out, (list, tuple)) else [out]
    loss = sum(o.float().mean() for o in outs if isinstance(o, torch.Tensor))
    loss.backward()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default=str(REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py'))
    p.add_argument('--size', type=int, default=640)
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None  # random weights: the speed is the same, and nothing is downloaded
    model = MODELS.build(cfg.model).train()
    x = torch.randn(args.batch_size, 3, args.size, args.size)
    _step(model, x, False)  # warm-up (allocator, kernels)
    times = {False: [], True: []}
    for _ in range(args.repeats):
        for bf16 in (False, True):
            times[bf16].append(_step(model, x, bf16))
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print(f'model: {cfg.model.type} from {args.config}, input {args.batch_size}x3x{args.size}x{args.size}, '
          f'{torch.get_num_threads()} threads')
    print(f'CPU: {torch.backends.cpu.get_cpu_capability()}, native bfloat16 (AVX512-BF16 or AMX): '
          f'{cpu_has_native_bf16()}')
    print(f'one training step: float32 {fp32:.2f} s, bfloat16 autocast {bf16:.2f} s')
    print(f'ratio bfloat16 / float32: {bf16 / fp32:.2f}  (AmpOptimWrapper on this CPU: '
          f'{"bfloat16" if cpu_has_native_bf16() else "float32, with a warning"})')


if __name__ == '__main__':
    main()
