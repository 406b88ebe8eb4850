"""docs/custom_backbone.md's worked example, run as written: the backbone module and the config are taken from the
page's code blocks, written to a project folder next to a `configs` folder, and trained + tested through the CLI."""
from __future__ import annotations

import json
import re
import sys

import pytest
import torch

from conftest import REPO
from visioncraft.cli.main import main as vc_main
from visioncraft.config import Config, ConfigError
from visioncraft.registry import MODELS

DOC = REPO / 'docs/custom_backbone.md'


def _blocks() -> dict[str, str]:
    """``{first-line comment path: code}`` of the page's python blocks."""
    out = {}
    for code in re.findall(r'```python\n(.*?)```', DOC.read_text(), flags=re.S):
        first = code.splitlines()[0]
        assert first.startswith('# '), first
        out[first[2:].strip()] = code
    return out


@pytest.fixture
def project(tmp_path, monkeypatch):
    blocks = _blocks()
    assert set(blocks) == {'my_project/my_backbone.py', 'my_project/dbnet_mybackbone_synth.py'}
    (tmp_path / 'configs').symlink_to(REPO / 'configs', target_is_directory=True)
    (tmp_path / 'my_project').mkdir()
    (tmp_path / 'my_project/__init__.py').write_text('')
    for rel, code in blocks.items():
        (tmp_path / rel).write_text(code)
    monkeypatch.chdir(tmp_path)
    # as under `python tools/train.py`: the current directory is not on sys.path
    monkeypatch.setattr(sys, 'path', [p for p in sys.path if p not in ('', str(tmp_path))])
    yield tmp_path
    sys.modules.pop('my_project.my_backbone', None)
    sys.modules.pop('my_project', None)
    MODELS._modules.pop('MyBackbone', None)


def test_custom_backbone_trains_and_tests_from_the_docs(project):
    cfg_path = 'my_project/dbnet_mybackbone_synth.py'
    wd = project / 'work'
    small = ['train_dataloader.dataset.num_train=8', 'train_dataloader.dataset.num_val=4',
             'val_dataloader.dataset.num_train=8', 'val_dataloader.dataset.num_val=4',
             'test_dataloader.dataset.num_train=8', 'test_dataloader.dataset.num_val=4',
             'train_dataloader.dataset.size=(96,96)', 'val_dataloader.dataset.size=(96,96)',
             'test_dataloader.dataset.size=(96,96)',
             'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
             'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    vc_main(['train', cfg_path, '--work-dir', str(wd), '--cfg-options', *small])
    ckpt = wd / 'epoch_1.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    # the backbone is the docs' class: its stem and depthwise stages are in the checkpoint
    assert 'backbone.stem.0.weight' in state and state['backbone.stages.3.1.0.weight'].shape == (96, 1, 3, 3)
    assert MODELS.get('MyBackbone').__module__ == 'my_project.my_backbone'
    vc_main(['test', cfg_path, str(ckpt), '--work-dir', str(wd), '--cfg-options', *small])
    metrics = json.loads(next(wd.glob('*/metrics.json')).read_text())
    assert 0.0 <= metrics['icdar/hmean'] <= 1.0


def test_custom_backbone_missing_module_is_a_clear_error(project):
    cfg = project / 'my_project/broken.py'
    cfg.write_text("_base_ = ['./dbnet_mybackbone_synth.py']\n"
                   "custom_imports = dict(imports=['my_project.no_such_module'])\n")
    with pytest.raises(ConfigError, match=r"broken\.py.*could not import 'my_project\.no_such_module'"):
        Config.fromfile(cfg)
