"""The package's structure: every module imports from scratch on its own (no import cycle hidden behind the order
in which ``visioncraft/__init__`` happens to import things), and no layer imports a layer above it
(tests/check_layers.py, the layers of ../shared/STYLE.md)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

IMPORT_EACH = textwrap.dedent('''
    import importlib, pkgutil, sys, traceback
    import torch, torchvision, cv2, numpy  # third-party modules stay loaded: only VisionCraft starts afresh
    import visioncraft
    names = sorted(m.name for m in pkgutil.walk_packages(visioncraft.__path__, 'visioncraft.'))
    failed = []
    for name in names:
        for key in [k for k in sys.modules if k == 'visioncraft' or k.startswith('visioncraft.')]:
            del sys.modules[key]
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name + ':\\n' + traceback.format_exc(limit=-3))
    print(len(names), 'modules')
    print('\\n'.join(failed))
    sys.exit(1 if failed else 0)
''')


def test_every_module_imports_first_in_a_fresh_interpreter():
    done = subprocess.run([sys.executable, '-c', IMPORT_EACH], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert int(done.stdout.split()[0]) > 200


def test_layers_only_import_downwards():
    done = subprocess.run([sys.executable, str(REPO / 'tests' / 'check_layers.py')], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout
