"""tools/find_python.sh (sourced by tools/dist_*.sh and tools/slurm_*.sh): the scripts use a Python that can import
VisionCraft and PyTorch even when the ``python`` on PATH cannot (no activated environment), or say clearly that
there is none."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")]


def _fake_bin(tmp_path: Path, with_entry_point: bool) -> Path:
    """``python`` and ``python3`` that cannot import anything, and optionally a ``visioncraft`` command whose #!
    line names this test's interpreter (as pip writes console scripts)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('python', 'python3'):
        (bin_dir / name).write_text('#!/bin/sh\nexit 1\n')
        (bin_dir / name).chmod(0o755)
    if with_entry_point:
        (bin_dir / 'visioncraft').write_text(f'#!{sys.executable}\nfrom visioncraft.cli.main import entry\nentry()\n')
        (bin_dir / 'visioncraft').chmod(0o755)
    return bin_dir


def _source(tmp_path: Path, bin_dir: Path, **env) -> subprocess.CompletedProcess:
    """Source a copy of find_python.sh from a folder without .venv, with only ``bin_dir`` and the system's
    folders on PATH; print the PYTHON it chose."""
    tools = tmp_path / 'repo' / 'tools'
    tools.mkdir(parents=True)
    shutil.copy(REPO / 'tools' / 'find_python.sh', tools)
    # the copy's repository root has no visioncraft package: only an interpreter that has it installed will do
    environ = {'PATH': f'{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin', 'HOME': str(tmp_path)}
    environ.update(env)
    return subprocess.run(['bash', '-c', f'source {tools / "find_python.sh"}; echo "PYTHON=$PYTHON"'],
                          env=environ, capture_output=True, text=True, timeout=120)


def _imports_visioncraft(python: str) -> bool:
    if not os.access(python, os.X_OK):
        return False
    return subprocess.run([python, '-c', 'import torch, visioncraft'], capture_output=True,
                          env=dict(os.environ, PYTHONPATH='')).returncode == 0


def test_without_an_activated_environment_the_visioncraft_commands_python_is_used(tmp_path):
    if not _imports_visioncraft(sys.executable):
        pytest.skip('this interpreter runs VisionCraft from PYTHONPATH, not installed')
    done = _source(tmp_path, _fake_bin(tmp_path, with_entry_point=True))
    assert done.returncode == 0, done.stderr
    chosen = done.stdout.strip().removeprefix('PYTHON=')
    assert _imports_visioncraft(chosen)
    if not _imports_visioncraft('/usr/bin/python3'):  # otherwise the system's python3 may come first
        assert os.path.realpath(chosen) == os.path.realpath(sys.executable)


def test_no_usable_python_is_a_clear_error(tmp_path):
    if _imports_visioncraft('/usr/bin/python3') or _imports_visioncraft('/usr/bin/python'):
        pytest.skip("the system's own python has VisionCraft installed")
    done = _source(tmp_path, _fake_bin(tmp_path, with_entry_point=False))
    assert done.returncode == 2
    assert 'error: no Python that can import torch and visioncraft was found' in done.stderr
    assert 'set PYTHON=' in done.stderr


def test_a_python_given_in_PYTHON_that_lacks_visioncraft_is_named(tmp_path):
    done = _source(tmp_path, _fake_bin(tmp_path, with_entry_point=True), PYTHON='/bin/false')
    assert done.returncode == 2
    assert 'error: PYTHON=/bin/false cannot import torch and visioncraft' in done.stderr


def test_the_repositorys_venv_is_found(tmp_path):
    """`make install` puts the environment in the repository's .venv: the scripts find it there."""
    if not _imports_visioncraft(sys.executable):
        pytest.skip('this interpreter runs VisionCraft from PYTHONPATH, not installed')
    bin_dir = _fake_bin(tmp_path, with_entry_point=False)
    venv_bin = tmp_path / 'repo' / '.venv' / 'bin'
    venv_bin.mkdir(parents=True)
    (venv_bin / 'python').write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (venv_bin / 'python').chmod(0o755)
    done = _source(tmp_path, bin_dir)
    assert done.returncode == 0, done.stderr
    chosen = done.stdout.strip().removeprefix('PYTHON=')
    if not _imports_visioncraft('/usr/bin/python3'):
        assert chosen == str(venv_bin / 'python')
