"""The machinery of tests/test_fuzz_entry_points.py: broken inputs, and a runner that calls an entry point the way
its script does (``runpy`` of ``tools/*.py`` / ``demo/*.py``, ``visioncraft.cli.main.entry``) in this process,
capturing its output and exit status, with a time limit and a watch on every file it writes.

Every input is made from a seeded ``random.Random``: the same seed makes the same bytes.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import random
import runpy
import signal
import struct
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from fuzz_write_watch import written_paths

REPO = Path(__file__).resolve().parents[1]


# -- a case and its result ------------------------------------------------------------------------------------
@dataclass
class Case:
    """``entry`` ('visioncraft', 'tools/test.py', 'demo/image_demo.py', 'module:pkg.mod') run with ``argv``.
    ``expect``: 'error' (exit status 2 and one ``error: ...`` line), 'fail' (any non-zero status, one error line),
    'maybe' (input that may be acceptable: exit 0, or else an 'error'), 'interrupt' (status 130, one
    'interrupted' line) or 'ok' (exit 0: the control cases)."""
    name: str
    entry: str
    argv: list[str]
    expect: str = 'error'
    words: tuple[str, ...] = ()  # each must appear in the error line
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    code: int | None
    out: str
    err: str
    seconds: float
    raised: str = ''  # the traceback of an exception that escaped the entry point
    writes: list[str] = field(default_factory=list)  # files written outside the allowed folders


class Hang(BaseException):
    """Raised in the entry point when it runs past its time limit (a BaseException: no handler swallows it)."""


# -- watching writes ------------------------------------------------------------------------------------------
_watch: dict = {'on': False, 'allowed': (), 'bad': []}


def _audit(event: str, args: tuple) -> None:
    if not _watch['on']:
        return
    for full in written_paths(event, args):
        if not full.startswith(_watch['allowed']):
            _watch['bad'].append(f'{event} {full}')


_hooked = False


def install_write_watch() -> None:
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)  # cannot be removed; it does nothing while _watch['on'] is False
        _hooked = True


# -- running an entry point in this process -------------------------------------------------------------------
def _target(entry: str):
    """A callable running ``entry`` as its command line does, with ``sys.argv`` already set."""
    if entry == 'visioncraft':
        from visioncraft.cli.main import entry as vc_entry
        return vc_entry
    if entry.startswith('module:'):
        return lambda: runpy.run_module(entry[len('module:'):], run_name='__main__', alter_sys=False)
    path = REPO / entry
    return lambda: runpy.run_path(str(path), run_name='__main__')


def run_in_process(case: Case, cwd: Path, allowed: tuple[str, ...], timeout: float = 60.0) -> Result:
    """Run ``case`` with ``cwd`` as the working directory; stdout / stderr captured, SystemExit's code kept, the
    environment, default registry scope and logger restored afterwards."""
    import logging

    from visioncraft.registry import set_default_scope
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_cwd = dict(os.environ), list(sys.argv), os.getcwd()
    saved_path = list(sys.path)
    logger = logging.getLogger('visioncraft')
    saved_handlers, saved_level, saved_prop = list(logger.handlers), logger.level, logger.propagate
    os.environ.update(case.env)
    os.environ.pop('VISIONCRAFT_DEBUG', None)
    sys.argv = [case.entry] + list(case.argv)
    code, raised = None, ''

    def on_alarm(signum, frame):
        raise Hang(f'{case.name}: still running after {timeout} s')

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    os.chdir(cwd)
    _watch.update(on=True, allowed=allowed, bad=[])
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                _target(case.entry)()
                code = 0
            except SystemExit as exc:
                if exc.code is None:
                    code = 0
                elif isinstance(exc.code, int):
                    code = exc.code
                else:  # Python prints a message code and exits with 1
                    print(exc.code, file=sys.stderr)
                    code = 1
            except BaseException:  # noqa: B902  an escaped exception is what the interpreter would print
                raised = traceback.format_exc()
    finally:
        _watch['on'] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)
        set_default_scope(None)
        for h in list(logger.handlers):
            if h not in saved_handlers:
                logger.removeHandler(h)
                h.close()
        logger.setLevel(saved_level)
        logger.propagate = saved_prop
    return Result(code, out.getvalue(), err.getvalue(), time.perf_counter() - t0, raised, list(_watch['bad']))


def check(case: Case, res: Result) -> str | None:
    """What is wrong with ``res`` for ``case``, or None."""
    text = res.out + res.err + res.raised
    if res.raised:
        return f'an exception escaped (a traceback for the user):\n{res.raised[-3000:]}'
    if 'Traceback (most recent call last)' in text:
        return f'a traceback was printed:\n{text[-3000:]}'
    if res.writes:
        return f'wrote outside its work / temporary folders: {res.writes[:5]}'
    if case.expect == 'ok':
        return None if res.code == 0 else f'exit status {res.code}, expected 0:\n{res.err[-2000:]}'
    if case.expect == 'interrupt':
        last = [ln for ln in res.err.splitlines() if ln.strip()][-1:]
        return None if res.code == 130 and last == ['interrupted (Ctrl-C)'] else \
            f'expected exit status 130 and "interrupted (Ctrl-C)", got {res.code}:\n{res.err[-1000:]}'
    if res.code == 0:
        return f'exit status 0 on bad input (silently accepted):\n{res.out[-1500:]}\n{res.err[-1500:]}'
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith('error: ')]
    if case.expect in ('error', 'usage') and res.code != 2:
        return f'exit status {res.code}, expected 2:\n{res.err[-2000:]}'
    if len(errors) != 1 or not lines or lines[-1] != errors[0]:
        return f'expected exactly one "error: ..." line, last on stderr; got:\n{res.err[-2000:]}'
    missing = [w for w in case.words if w not in errors[0]]
    if missing:
        return f'the error line does not name {missing}: {errors[0]}'
    return None


# -- broken inputs --------------------------------------------------------------------------------------------
def png_bytes(w: int, h: int, rng: random.Random) -> bytes:
    """A valid RGB PNG of w x h random pixels."""
    raw = b''.join(b'\x00' + bytes(rng.randrange(256) for _ in range(3 * w)) for _ in range(h))
    return _png(w, h, zlib.compress(raw))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)


def _png(w: int, h: int, idat: bytes) -> bytes:
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + _chunk(b'IDAT', idat) + _chunk(b'IEND', b''))


def bad_images(folder: Path, rng: random.Random, n_random: int = 4) -> dict[str, Path]:
    """Broken image files by kind: truncated PNG / JPEG, zero bytes, random bytes, a text file named .png, a PNG
    whose header claims 100000 x 100000 pixels (and a JPEG claiming 65000 x 65000), a folder named like an image."""
    import cv2
    import numpy as np
    folder.mkdir(parents=True, exist_ok=True)
    good = png_bytes(24, 16, rng)
    arr = np.frombuffer(bytes(rng.randrange(256) for _ in range(32 * 24 * 3)), np.uint8).reshape(24, 32, 3)
    jpg = cv2.imencode('.jpg', arr)[1].tobytes()
    out: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        p = folder / name
        p.write_bytes(data)
        out[name] = p

    for i in range(n_random):
        put(f'truncated_{i}.png', good[:rng.randrange(8, len(good) - 13)])
        put(f'truncated_{i}.jpg', jpg[:rng.randrange(2, len(jpg) // 3)])
        put(f'random_{i}.png', bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
    put('empty.png', b'')
    put('empty.jpg', b'')
    put('text.png', b'this is not an image\n' * 20)
    put('huge.png', _png(100000, 100000, zlib.compress(b'\x00' * 64)))
    sof = bytearray(jpg)
    at = sof.find(b'\xff\xc0')
    if at >= 0:  # the JPEG's frame header: height and width at +5 / +7
        sof[at + 5:at + 9] = struct.pack('>HH', 65000, 65000)
    put('huge.jpg', bytes(sof))
    d = folder / 'folder.png'
    d.mkdir(exist_ok=True)
    out['folder.png'] = d
    return out


def mutate_json_text(text: str, rng: random.Random) -> str:
    """``text`` (valid JSON) made invalid: cut short, a structural character dropped / doubled, or garbage inserted.
    The result is never valid JSON."""
    for _ in range(100):
        how = rng.randrange(4)
        if how == 0:
            out = text[:rng.randrange(1, max(2, len(text) - 1))]
        elif how == 1:
            spots = [i for i, c in enumerate(text) if c in '{}[]:,"']
            i = rng.choice(spots)
            out = text[:i] + text[i + 1:]
        elif how == 2:
            i = rng.randrange(len(text))
            out = text[:i] + rng.choice(['{', ']', ',,', ':', '"', 'nul', '@']) + text[i:]
        else:
            i = rng.randrange(len(text))
            out = text[:i] + '\x00\xff' + text[i:]
        try:
            json.loads(out)
        except ValueError:
            return out
    return text[: len(text) // 2]


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


class Marker:
    """A class a pickle names: loading the pickle with ``weights_only=False`` would create a file (the test then
    fails); ``weights_only`` loading refuses it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def evil_pickle(marker_file: Path) -> bytes:
    return pickle.dumps({'state_dict': {'w': Marker(str(marker_file))}})


def temp_roots(*extra: Path) -> tuple[str, ...]:
    roots = {os.path.realpath(tempfile.gettempdir()), os.path.abspath(tempfile.gettempdir()), '/dev/'}
    for p in extra:
        roots |= {os.path.abspath(p), os.path.realpath(p)}
    return tuple(sorted(roots))


# -- the same cases as real processes -------------------------------------------------------------------------
SITECUSTOMIZE = '''\
"""Written by tests/test_fuzz_entry_points.py: log every file this process writes outside FUZZ_ALLOWED."""
import os
import sys

from fuzz_write_watch import written_paths  # tests/ is on PYTHONPATH

_allowed = tuple(p for p in os.environ.get('FUZZ_ALLOWED', '').split(os.pathsep) if p)
_log = os.environ.get('FUZZ_WRITE_LOG')


def _hook(event, args):
    for full in written_paths(event, args):
        if not full.startswith(_allowed) and full != _log:
            with open(_log, 'a') as f:
                f.write(f'{event} {full}\\n')


if _log:
    sys.addaudithook(_hook)
'''


def subprocess_command(entry: str) -> list[str]:
    if entry == 'visioncraft':
        script = Path(sys.executable).parent / 'visioncraft'
        return [str(script)] if script.is_file() else [sys.executable, '-m', 'visioncraft.cli.main']
    if entry.startswith('module:'):
        return [sys.executable, '-m', entry[len('module:'):]]
    return [sys.executable, str(REPO / entry)]


def run_subprocess(case: Case, cwd: Path, allowed: tuple[str, ...], site_dir: Path, timeout: float = 180.0,
                   debug: bool = False) -> Result:
    """Run ``case`` as its real command line in a fresh interpreter (``cwd`` as the working directory), with an
    audit hook (``site_dir/sitecustomize.py``) logging writes outside ``allowed``."""
    import subprocess
    log = cwd / '.fuzz_writes.log'
    env = {k: v for k, v in os.environ.items() if k not in ('VISIONCRAFT_DEBUG', 'PYTHONPATH')}
    env.update(case.env, PYTHONPATH=os.pathsep.join([str(site_dir), str(REPO), str(REPO / 'tests')]), OMP_NUM_THREADS='1',
               FUZZ_ALLOWED=os.pathsep.join(allowed), FUZZ_WRITE_LOG=str(log))
    if debug:
        env['VISIONCRAFT_DEBUG'] = '1'
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(subprocess_command(case.entry) + list(case.argv), cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return Result(None, str(exc.stdout or ''), str(exc.stderr or ''), time.perf_counter() - t0,
                      raised=f'{case.name}: still running after {timeout} s (hang)')
    writes = log.read_text().splitlines() if log.exists() else []
    return Result(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0, writes=writes)
