"""Throughput and latency of ``visioncraft serve`` against the same model called in-process.

For each number of concurrent clients (default 1, 8 and 32) it measures, for ``--duration`` seconds after a warm-up:

* in-process: that many threads of this process each decode the image bytes and call the served model's
  ``predict([image])`` in a loop (what a program would do with the model and no server: no HTTP, no batching);
* served: ``visioncraft serve`` runs in a subprocess (its own interpreter, as in production) on a free 127.0.0.1
  port, and that many client threads each POST the same image bytes (``Content-Type: image/png``, keep-alive
  connections) to ``/v1/models/NAME/predict`` in a loop.

It prints requests/s, p50 and p99 latency of both and the ratio served / in-process (target: >= 0.8 at 32 clients),
plus the in-process throughput of one thread calling ``predict`` on batches of ``--max-batch`` images (what batching
can reach at best). The clients share the machine with the server: on few cores they take some of its CPU.

    python benchmarks/serve.py                                   # the detection quickstart, seeded weights
    python benchmarks/serve.py --duration 10 --repeats 5 --clients 1 8 32 --max-batch 8 --device cpu
    python benchmarks/serve.py --model det=configs/quickstart/det_shapes.py,work_dirs/quickstart/epoch_16.pth
    python benchmarks/serve.py --json serve_bench.json

Both sides use the same torch intra-op threads (``OMP_NUM_THREADS``, default 1 here).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DET_SHAPES = REPO / 'configs' / 'quickstart' / 'det_shapes.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default=None, help='a MODEL argument of `visioncraft serve` (default: det_shapes with '
                                                 'seeded weights that find 50 boxes on any picture)')
    p.add_argument('--clients', type=int, nargs='+', default=[1, 8, 32], help='concurrent clients (default 1 8 32)')
    p.add_argument('--duration', type=float, default=3.0, help='seconds measured per run (default 3)')
    p.add_argument('--repeats', type=int, default=3,
                   help='runs of each side per client count, alternating in-process and served so that machine '
                        'noise hits both; the medians are reported (default 3)')
    p.add_argument('--warmup', type=float, default=1.0, help='seconds run before measuring (default 1)')
    p.add_argument('--max-batch', type=int, default=8, help="the server's --max-batch (default 8)")
    p.add_argument('--batch-wait-ms', type=float, default=5.0, help="the server's --batch-wait-ms (default 5)")
    p.add_argument('--device', default='cpu', help='cpu (default) or cuda[:N]')
    p.add_argument('--size', type=int, nargs=2, default=[128, 128], metavar=('H', 'W'),
                   help='the picture sent (default 128 128, the quickstart size)')
    p.add_argument('--json', default=None, help='also write the results to this JSON file')
    return p.parse_args(argv)


def picture(h: int, w: int) -> bytes:
    """A PNG of filled shapes on a gradient."""
    import cv2
    import numpy as np
    img = np.tile(np.linspace(60, 200, w, dtype=np.uint8)[None, :, None], (h, 1, 3)).copy()
    cv2.circle(img, (w // 4, h // 3), max(4, min(h, w) // 8), (30, 60, 220), -1)
    cv2.rectangle(img, (w // 2, h // 2), (w // 2 + w // 5, h // 2 + h // 5), (40, 200, 40), -1)
    ok, data = cv2.imencode('.png', img)
    assert ok
    return data.tobytes()


def seeded_checkpoint(path: Path) -> Path:
    """The det_shapes model with seeded weights whose classifier bias makes every anchor score ~0.73."""
    import torch

    from visioncraft.config import Config
    from visioncraft.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(DET_SHAPES)).model)
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.fill_(1.0)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': ['circle', 'square', 'triangle', 'star']}}}, path)
    return path


# -- load generation -------------------------------------------------------------------------------------------
def process_cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system, all threads) of this process, or of the process ``pid`` (Linux /proc)."""
    if pid is None:
        return time.process_time()
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run_clients(make_call, clients: int, warmup: float, duration: float, cpu_pid: int | None = None) -> dict:
    """``clients`` threads, each calling its own ``make_call()()`` in a loop; the calls that start after the warm-up
    and end within the measured window count. Returns requests/s, p50 / p99 ms, errors, and the CPU milliseconds per
    request (warm-up included) of the process doing the work: this one, or the server ``cpu_pid``."""
    done = [0] * clients
    cpu0 = process_cpu_s(cpu_pid)
    start = time.perf_counter() + warmup
    end = start + duration
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients)

    def loop(i):
        call = make_call()
        barrier.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            try:
                call()
            except Exception:  # noqa: BLE001 - counted, reported
                errors[i] += 1
                continue
            t1 = time.perf_counter()
            done[i] += 1
            if t0 >= start and t1 <= end:
                latencies[i].append(t1 - t0)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu_ms = 1e3 * (process_cpu_s(cpu_pid) - cpu0) / max(1, sum(done))
    all_lat = sorted(x for lat in latencies for x in lat)
    n = len(all_lat)

    def pct(q):
        return 1e3 * all_lat[min(n - 1, int(q * n))] if n else float('nan')
    return dict(requests_per_s=n / duration, p50_ms=pct(0.5), p99_ms=pct(0.99), requests=n, errors=sum(errors),
                cpu_ms_per_request=cpu_ms)


def median_run(runs: list[dict]) -> dict:
    """The median of each figure over repeated runs (errors: the total)."""
    out = {k: statistics.median(r[k] for r in runs)
           for k in ('requests_per_s', 'p50_ms', 'p99_ms', 'requests', 'cpu_ms_per_request')}
    return dict(out, errors=sum(r['errors'] for r in runs), repeats=len(runs))


def in_process_call(model, data: bytes):
    import cv2
    import numpy as np
    buf = np.frombuffer(data, np.uint8)

    def make():
        def call():
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            model.predict([img])
        return call
    return make


def http_call(port: int, path: str, data: bytes):
    def make():
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)

        def call():
            conn.request('POST', path, body=data, headers={'Content-Type': 'image/png'})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f'HTTP {resp.status}')
        return call
    return make


def batched_throughput(model, data: bytes, batch: int, seconds: float) -> float:
    import cv2
    import numpy as np
    imgs = [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for _ in range(batch)]
    model.predict(imgs)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.predict(imgs)
        n += batch
    return n / (time.perf_counter() - t0)


# -- the server --------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_server(spec: str, args, port: int, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'visioncraft.cli.main', 'serve', spec, '--port', str(port), '--device', args.device,
           '--max-batch', str(args.max_batch), '--batch-wait-ms', str(args.batch_wait_ms), '--log-level', 'warning']
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise SystemExit(f'the server exited ({proc.returncode}):\n{proc.stdout.read()}')
        try:
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
            conn.request('GET', '/healthz')
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit('the server did not start in 180 s')
        time.sleep(0.2)


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    import torch
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
    from visioncraft.serve.models import load_served_model, parse_model_spec
    tmp = tempfile.TemporaryDirectory()
    spec = args.model or f'det={DET_SHAPES},{seeded_checkpoint(Path(tmp.name) / "det_shapes.pth")}'
    name = parse_model_spec(spec).name
    model = load_served_model(spec, device=args.device)
    data = picture(*args.size)
    print(f'model {name} ({model.task}): {spec}\npicture {args.size[1]}x{args.size[0]} PNG ({len(data)} bytes), '
          f'device {args.device}, torch threads {torch.get_num_threads()}, server --max-batch {args.max_batch} '
          f'--batch-wait-ms {args.batch_wait_ms:g}, {args.duration:g} s per run after {args.warmup:g} s warm-up, '
          f'median of {args.repeats} alternating runs, {os.cpu_count()} CPUs', flush=True)
    results: dict = dict(model=spec, task=model.task, device=args.device, size=args.size, runs=[])
    port = free_port()
    proc = start_server(spec, args, port, dict(os.environ))
    try:
        for c in args.clients:
            runs = dict(in_process=[], served=[])
            for _ in range(args.repeats):  # alternating: a burst of load elsewhere hits both sides
                runs['in_process'].append(run_clients(in_process_call(model, data), c, args.warmup, args.duration))
                runs['served'].append(run_clients(http_call(port, f'/v1/models/{name}/predict', data), c,
                                                  args.warmup, args.duration, cpu_pid=proc.pid))
            results['runs'].append(dict(clients=c, **{k: median_run(v) for k, v in runs.items()}))
        results['in_process_batched_img_per_s'] = batched_throughput(model, data, args.max_batch, args.duration)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        tmp.cleanup()
    print(f'\n{"clients":>7} | {"in-process req/s":>16} {"p50 ms":>7} {"p99 ms":>7} {"CPU ms":>6} | '
          f'{"served req/s":>12} {"p50 ms":>7} {"p99 ms":>7} {"CPU ms":>6} | served / in-process')
    for run in results['runs']:
        a, b = run['in_process'], run['served']
        run['ratio'] = b['requests_per_s'] / a['requests_per_s'] if a['requests_per_s'] else float('nan')
        errs = f'  ({b["errors"]} errors)' if b['errors'] or a['errors'] else ''
        print(f'{run["clients"]:>7} | {a["requests_per_s"]:>16.1f} {a["p50_ms"]:>7.1f} {a["p99_ms"]:>7.1f} '
              f'{a["cpu_ms_per_request"]:>6.1f} | {b["requests_per_s"]:>12.1f} {b["p50_ms"]:>7.1f} '
              f'{b["p99_ms"]:>7.1f} {b["cpu_ms_per_request"]:>6.1f} | {run["ratio"]:.2f}x{errs}')
    print('CPU ms: CPU time per request of the process doing the work (this one in-process; the server, without '
          'its clients, served)')
    print(f'in-process, one thread, batches of {args.max_batch}: {results["in_process_batched_img_per_s"]:.1f} img/s')
    last = results['runs'][-1]
    verdict = 'met' if last['ratio'] >= 0.8 else 'NOT met'
    print(f'target served >= 0.8x in-process at {last["clients"]} clients: {verdict} ({last["ratio"]:.2f}x)')
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == '__main__':
    main()
