"""Per-iteration cost of the Runner and its default hooks against a bare PyTorch loop.

Both loops train the same small CNN (TinyClassifier) with SGD on the same in-memory images for the
same number of iterations, in this process, alternating several times so machine noise hits both.
The bare loop is what a user would write by hand: DataLoader(TensorDataset), normalise, forward,
cross-entropy, backward, step. The engine loop is ``Runner(cfg).train()`` with the default hooks
(timer, logger, parameter scheduler, checkpoint, sampler seed), the data pipeline (per-sample seeded
RNG, data samples, pseudo-collate), the data preprocessor and loss parsing with the finite check.

Prints the median seconds per iteration of each and the ratio engine / bare. Target: ratio < 1.05.

    python benchmarks/engine_overhead.py [--iters 120] [--repeats 5] [--batch-size 32] [--size 64]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data import BaseDataset
from visioncraft.engine import Runner
from visioncraft.engine.hooks import Hook
from visioncraft.models import TinyClassifier
from visioncraft.structures import DataSample

MEAN, STD = 127.5, 64.0


class InMemoryImages(BaseDataset):
    """Uint8 CHW images and labels held in two tensors (no file I/O, as in the bare loop)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels
        super().__init__(serialize_data=False)

    def load_data_list(self) -> list[dict]:
        return [{'i': i} for i in range(len(self.labels))]

    def prepare_data(self, idx):
        i = self.get_data_info(idx)['i']
        return dict(inputs=self.images[i], data_samples=DataSample(gt_label=self.labels[i:i + 1]))


class StepTimer(Hook):
    """Records when each iteration ends (not a default hook; priority LOWEST so it runs last)."""

    priority = 100

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def before_train(self, runner) -> None:
        self.stamps = [time.perf_counter()]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.stamps.append(time.perf_counter())


def make_model(widths) -> TinyClassifier:
    torch.manual_seed(0)
    return TinyClassifier(num_classes=10, widths=widths, norm='bn', data_preprocessor=dict(
        type='ImgDataPreprocessor', mean=[MEAN] * 3, std=[STD] * 3))


def bare_loop(images, labels, iters, batch_size, widths, warmup) -> float:
    model = make_model(widths)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=batch_size,
                                         shuffle=True, drop_last=True)
    model.train()
    stamps, done = [], 0
    while done < iters + warmup:
        for x, y in loader:
            if done == warmup:
                stamps.append(time.perf_counter())
            x = (x.float() - MEAN) / STD
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == iters + warmup:
                break
    stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[0]) / iters


def engine_loop(images, labels, iters, batch_size, widths, warmup, work_dir) -> float:
    timer = StepTimer()
    cfg = dict(
        work_dir=work_dir,
        model=make_model(widths),
        train_dataloader=dict(batch_size=batch_size, num_workers=0, drop_last=True,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=InMemoryImages(images, labels)),
        train_cfg=dict(by_epoch=False, max_iters=iters + warmup),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=50),
                           checkpoint=dict(type='CheckpointHook', interval=-1, save_last=False)),
        custom_hooks=[timer],
        log_level='WARNING',
    )
    runner = Runner(cfg)
    runner.train()
    data_time = runner.message_hub.mean('train/data_time', iters)
    return (timer.stamps[-1] - timer.stamps[warmup]) / iters, data_time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--iters', type=int, default=80)
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--repeats', type=int, default=9)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--size', type=int, default=64, help='image side in pixels')
    p.add_argument('--widths', type=str, default='32,64,128')
    args = p.parse_args()
    widths = tuple(int(w) for w in args.widths.split(','))
    g = torch.Generator().manual_seed(0)
    n = args.batch_size * 16
    images = torch.randint(0, 256, (n, 3, args.size, args.size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    bare, eng, data = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # alternate, so slow spells of the machine hit both
            bare.append(bare_loop(images, labels, args.iters, args.batch_size, widths, args.warmup))
            e, d = engine_loop(images, labels, args.iters, args.batch_size, widths, args.warmup, f'{tmp}/run{r}')
            eng.append(e)
            data.append(d)
    b, e = statistics.median(bare), statistics.median(eng)
    print(f'model TinyClassifier{widths}, batch {args.batch_size}x3x{args.size}x{args.size}, '
          f'{args.iters} iterations x {args.repeats} repeats, torch threads {torch.get_num_threads()}')
    print(f'bare PyTorch loop : {b * 1e3:8.2f} ms/iter  (runs: {", ".join(f"{x * 1e3:.2f}" for x in bare)})')
    print(f'VisionCraft Runner: {e * 1e3:8.2f} ms/iter  (runs: {", ".join(f"{x * 1e3:.2f}" for x in eng)})')
    print(f'  of which waiting for data (sampler, per-sample seeded pipeline, collate): '
          f'{statistics.median(data) * 1e3:.2f} ms/iter')
    print(f'overhead ratio (engine / bare): {e / b:.3f}  (target < 1.05)')


if __name__ == '__main__':
    main()
