"""Checkpoint files: atomic writes (even under SIGKILL), weights_only loading, URL download cache."""
from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from visioncraft.engine import checkpoint as ck


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    ck.save_checkpoint({'w': torch.ones(3)}, path)

    def boom(src, dst):
        raise OSError('disk full')
    monkeypatch.setattr(os, 'replace', boom)
    with pytest.raises(OSError, match='disk full'):
        ck.save_checkpoint({'w': torch.zeros(3)}, path)
    assert torch.equal(ck.load_checkpoint_file(path)['w'], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']


def test_sigkill_at_any_moment_never_leaves_a_corrupt_latest(tmp_path):
    """A child process saves big checkpoints in a loop and updates last_checkpoint; we SIGKILL it at
    several moments and every time the file it points to must load completely."""
    script = tmp_path / 'writer.py'
    script.write_text(textwrap.dedent(f'''
        import sys, torch
        from visioncraft.fileio.checkpoint import save_checkpoint, atomic_write_text
        d = sys.argv[1]
        for i in range(10**6):
            path = f"{{d}}/iter_{{i % 3}}.pth"
            save_checkpoint({{"i": i, "w": torch.full((1_500_000,), float(i))}}, path)
            atomic_write_text(f"{{d}}/last_checkpoint", path)
            print(i, flush=True)
    '''))
    for delay in (0.3, 0.55, 0.8, 1.1):
        out = tmp_path / f'run_{delay}'
        out.mkdir()
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        proc = subprocess.Popen([sys.executable, str(script), str(out), ck.__file__], stdout=subprocess.PIPE,
                                text=True, env=env)
        first = proc.stdout.readline()  # at least one checkpoint done
        assert first.strip() == '0'
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        latest = ck.find_latest_checkpoint(out)
        assert latest is not None
        data = ck.load_checkpoint_file(latest)
        assert data['w'].shape == (1_500_000,) and bool((data['w'] == data['i']).all())


def test_load_uses_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ('echo pwned',))
    path = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, path)
    with pytest.raises(RuntimeError, match='could not load checkpoint'):
        ck.load_checkpoint_file(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        ck.load_checkpoint_file(tmp_path / 'nope.pth')


def test_extract_state_dict_strips_ddp_prefix_and_accepts_bare():
    sd = {'module.a': torch.ones(1)}
    assert list(ck.extract_state_dict({'state_dict': sd})) == ['a']
    assert list(ck.extract_state_dict({'b': torch.ones(1)})) == ['b']


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802
        _Handler.hits.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


def test_url_checkpoint_downloads_once_into_the_hub_cache(tmp_path, monkeypatch):
    served = tmp_path / 'served'
    served.mkdir()
    torch.save({'state_dict': {'w': torch.arange(4.0)}}, served / 'model_v1.pth')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = functools.partial(_Handler, directory=str(served))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/model_v1.pth'
        _Handler.hits.clear()
        a = ck.load_checkpoint_file(url)
        b = ck.load_checkpoint_file(url)
        assert torch.equal(a['state_dict']['w'], torch.arange(4.0)) and torch.equal(b['state_dict']['w'],
                                                                                     torch.arange(4.0))
        assert _Handler.hits == ['/model_v1.pth']  # the second load came from the cache
        assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'model_v1.pth').is_file()
        with pytest.raises(RuntimeError, match='Download it by hand and put it at'):
            ck.load_checkpoint_file(url.replace('model_v1', 'missing'))
    finally:
        server.shutdown()
