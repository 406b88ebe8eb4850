"""The upstream wheels (mmdet, mmpose, mmocr) in a cache folder, and the configs they bundle.

``pip download --no-deps`` puts each wheel in ``CACHE/wheels`` once (never installed); its
``<pkg>/.mim/configs/`` tree is extracted to ``CACHE/configs/<pkg>-<version>/`` once (a ``.complete`` marker
says the extraction finished). ``CACHE`` is ``$VISIONCRAFT_COMPAT_CACHE`` or ``~/.cache/visioncraft/compat``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

__all__ = ['cache_dir', 'wheel_path', 'configs_dir', 'list_configs']

CACHE_ENV = 'VISIONCRAFT_COMPAT_CACHE'


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or '~/.cache/visioncraft/compat').expanduser()


def wheel_path(name: str, version: str, cache: Path | None = None) -> Path:
    """The wheel of ``name==version`` in the cache, downloaded first when missing (a clear error when pip fails)."""
    wheels = (cache or cache_dir()) / 'wheels'
    found = sorted(wheels.glob(f'{name}-{version}-*.whl'))
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check',
           '-q', f'{name}=={version}', '-d', str(wheels)]
    print(f'compat: downloading {name}=={version} into {wheels}', flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob(f'{name}-{version}-*.whl'))
    if proc.returncode != 0 or not found:
        raise SystemExit(f'compat: could not download {name}=={version} with pip ({" ".join(cmd)}): '
                         f'{(proc.stderr or proc.stdout).strip()[-500:]}')
    return found[0]


def configs_dir(name: str, version: str, cache: Path | None = None) -> Path:
    """``CACHE/configs/<name>-<version>``: the wheel's ``<name>/.mim/configs`` tree, extracted once."""
    cache = cache or cache_dir()
    dest = cache / 'configs' / f'{name}-{version}'
    if (dest / '.complete').is_file():
        return dest
    wheel = wheel_path(name, version, cache)
    prefix = f'{name}/.mim/configs/'
    tmp = dest.with_name(dest.name + f'.tmp{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith('/')]
        if not members:
            raise SystemExit(f'compat: {wheel} holds no {prefix} folder')
        for member in members:
            rel = member[len(prefix):]
            if rel.startswith('/') or '..' in Path(rel).parts:
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(member))
    (tmp / '.complete').write_text(wheel.name + '\n')
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return dest


def list_configs(root: Path) -> list[str]:
    """Every ``.py`` under ``root``, as '/'-separated paths relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*.py'))
