"""A built (non-editable) wheel carries the shipped configs under ``visioncraft/.mim/configs`` (setup.py's build
step), and :func:`visioncraft.fileio.package_data.find_package_file` finds them from an installed copy that has no
source checkout around it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_configs_and_installed_copy_finds_them(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md'):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    shutil.copytree(REPO / 'visioncraft', src / 'visioncraft', ignore=ignore)
    shutil.copytree(REPO / 'configs', src / 'configs', ignore=ignore)
    wheels = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(src), '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(wheels)], check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob('visioncraft-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(REPO).as_posix() for p in (REPO / 'configs').rglob('*')
               if p.is_file() and '__pycache__' not in p.parts}
    assert shipped, 'no configs in the checkout'
    missing = sorted(rel for rel in shipped if f'visioncraft/.mim/{rel}' not in names)
    assert not missing, f'the wheel lacks {missing[:5]}'
    web_page = {f'visioncraft/serve/static/{p.name}' for p in (REPO / 'visioncraft/serve/static').iterdir()}
    assert web_page and web_page <= names, sorted(web_page - names)  # `visioncraft serve`'s page

    # unpacked into a folder of its own (what `pip install` does), away from the checkout
    site = tmp_path / 'site'
    zipfile.ZipFile(wheel).extractall(site)
    code = ('from visioncraft.fileio.package_data import find_package_file, PACKAGE_DATA_DIR\n'
            'p = find_package_file("configs/quickstart/det_shapes.py")\n'
            'print(p); assert p.is_relative_to(PACKAGE_DATA_DIR), p')
    env = {**os.environ, 'PYTHONPATH': str(site)}
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == site / 'visioncraft' / '.mim' / 'configs' / 'quickstart' / 'det_shapes.py'
