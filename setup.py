"""Only one build step besides pyproject.toml: a built wheel (or sdist install) carries the shipped ``configs/``
folder as package data under ``visioncraft/.mim/configs`` (OpenMMLab's layout), so that named models, the demos'
default configs and ``find_package_file`` work from a non-editable install. An editable install reads them from
the checkout itself and copies nothing."""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ('configs',)  # folders of the repository root that a wheel carries under visioncraft/.mim/


class BuildPyWithConfigs(build_py):
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        for name in SHIPPED:
            src = ROOT / name
            dst = Path(self.build_lib) / 'visioncraft' / '.mim' / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(cmdclass={'build_py': BuildPyWithConfigs})
