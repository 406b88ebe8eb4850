"""``--against mmdet`` / ``--against mmpose`` without the upstream package: a clear exit naming it and what to do
(the comparison itself runs by hand in a venv with the upstream toolboxes; see docs/benchmarks.md)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / 'benchmarks'


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f'_bench_{name}', BENCH / f'{name}.py')
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_require_upstream_names_the_missing_package():
    upstream = _load('_upstream')
    with pytest.raises(SystemExit) as exc:
        upstream.require_upstream('no_such_toolbox_xyz')
    msg = str(exc.value.code)
    assert "--against no_such_toolbox_xyz needs the upstream package 'no_such_toolbox_xyz'" in msg
    assert sys.executable in msg and '--no-deps' in msg


@pytest.mark.skipif(importlib.util.find_spec('mmpose') is not None, reason='mmpose is installed here')
def test_pose_against_without_mmpose_exits_clearly():
    pose = _load('pose')
    with pytest.raises(SystemExit) as exc:
        pose.main(['--against', 'mmpose'])
    assert "needs the upstream package 'mmpose'" in str(exc.value.code)
