"""A fast command line: `--help` and a usage error of every `visioncraft` subcommand, tools/*.py wrapper, dataset
tool (tools/dataset_converters/**, tools/misc/download_dataset.py) and demo/*.py answer without importing torch
(what is imported is checked, never how long it takes), and every `--device` flag defaults to 'auto' (CUDA when
there is one, else the CPU), resolved after parsing."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO
from visioncraft.cli import parsers
from visioncraft.cli.main import _COMMANDS, run_cli
from visioncraft.errors import DeviceError

# Runs one entry point (`visioncraft` or a script) once per argument list given in a JSON list, in this fresh
# interpreter, and prints one JSON line: per run the exit status and whether torch was imported by then.
RUNNER = r'''
import json, os, runpy, sys
entry, runs = sys.argv[1], json.loads(sys.argv[2])
out = []
for argv in runs:
    sys.argv = [entry, *argv]
    try:
        if entry == 'visioncraft':
            from visioncraft.cli.main import entry as console
            console()
        else:
            sys.path[0] = os.path.dirname(os.path.abspath(entry))  # as `python SCRIPT` sets it
            runpy.run_path(entry, run_name='__main__')
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out.append(dict(code=code, torch=sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3]))
sys.stdout.flush()
sys.stderr.write('\n' + json.dumps(out) + '\n')
'''

SCRIPTS = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob('tools/*.py'), *REPO.glob('demo/*.py'),
                                                     REPO / 'tools/infer/predict_det.py',
                                                     REPO / 'tools/misc/ocr_eval.py'])
# the dataset tools: their parsers are visioncraft.cli.converter_parsers, their tasks imported after parsing
DATASET_TOOLS = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob('tools/dataset_converters/**/*.py'),
                                                           REPO / 'tools/misc/download_dataset.py'])
ENTRIES = ([('visioncraft', [])] + [('visioncraft', [cmd]) for cmd in _COMMANDS]
           + [(s, []) for s in SCRIPTS + DATASET_TOOLS])


def _run(entry: str, runs: list[list[str]]) -> tuple[list[dict], str, str]:
    done = subprocess.run([sys.executable, '-c', RUNNER, entry, json.dumps(runs)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stderr.strip().splitlines()[-1]), done.stdout, done.stderr


@pytest.mark.parametrize('entry,head', ENTRIES, ids=[' '.join([e, *h]) for e, h in ENTRIES])
def test_help_and_usage_errors_do_not_import_torch(entry, head):
    (helped, bad), out, err = _run(entry, [[*head, '--help'], [*head, '--no-such-flag']])
    assert helped['code'] == 0 and out.strip(), err[-2000:]
    assert entry not in DATASET_TOOLS or out.startswith('usage: '), out  # argparse's help, not a docstring
    assert not helped['torch'], f'{entry} {" ".join(head)} --help imported {helped["torch"]}'
    assert bad['code'] == 2, err[-2000:]
    assert not bad['torch'], f'{entry} {" ".join(head)} --no-such-flag imported {bad["torch"]}'
    lines = [ln for ln in err.splitlines()[:-1] if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), err  # a missing argument or the unknown flag


def test_version_and_top_level_help_do_not_import_torch():
    (version, helped), out, err = _run('visioncraft', [['--version'], ['-h']])
    assert version['code'] == 0 and helped['code'] == 0 and 'visioncraft ' in out and 'commands:' in out
    assert not version['torch'] and not helped['torch']


def test_overrides_are_parsed_as_before():
    args = parsers.train_parser().parse_args(['c.py', '-o', 'a.b=1', 'c=[1,2]', '--cfg-options', 'd=none'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2], 'd': None}
    assert parsers.train_parser().parse_args(['c.py']).cfg_options == {}
    args = parsers.eval_parser().parse_args(['-c', 'x.yml', '-o', 'Global.use_gpu=false'])
    assert args.opt == {'Global.use_gpu': False}


# -- --device auto ---------------------------------------------------------------------------------------------
def _load_demo(name: str):
    spec = importlib.util.spec_from_file_location(f'light_cli_{name}', REPO / 'demo' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO_ARGS = {
    'image_demo': ['img.jpg', 'cfg.py'],
    'pose_image_demo': ['img.jpg', 'pose.py', 'pose.pth'],
    'topdown_demo_with_detector': ['det.py', 'det.pth', 'pose.py', 'pose.pth', '--input', 'img.jpg'],
    'video_demo': ['clip.mp4', 'cfg.py', 'ckpt.pth', '--out', 'o.mp4'],
    'video_gpuaccel_demo': ['clip.mp4', 'cfg.py', 'ckpt.pth', '--out', 'o.mp4'],
    'webcam_demo': ['cfg.py', 'ckpt.pth'],
}


def test_every_device_flag_defaults_to_auto():
    assert sorted(DEMO_ARGS) == sorted(p.stem for p in (REPO / 'demo').glob('*.py'))
    for name, argv in DEMO_ARGS.items():
        assert _load_demo(name).parse_args(argv).device == 'auto', name
    assert parsers.ocr_parser().parse_args(['img', '--det', 'd', '--rec', 'r']).device == 'auto'
    assert parsers.pose_parser().parse_args(['img']).device == 'auto'
    assert parsers.predict_parser().parse_args(['img', '--model-dir', 'm']).device == 'auto'


def test_auto_resolves_to_cuda_only_when_there_is_one():
    assert parsers.resolve_device('auto') == ('cuda:0' if torch.cuda.is_available() else 'cpu')
    assert parsers.resolve_device('cpu') == 'cpu'
    with pytest.raises(DeviceError, match="--device='banana'"):
        parsers.resolve_device('banana')


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_explicit_cuda_without_cuda_is_one_clear_error(capsys, tmp_path):
    demo = _load_demo('video_demo')
    with pytest.raises(SystemExit) as exc:
        run_cli(demo.main, [str(tmp_path / 'clip.mp4'), 'cfg.py', 'ckpt.pth', '--device', 'cuda:0', '--out', 'o.mp4'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and "'cuda:0'" in err and 'CUDA is not available' in err
    assert not Path(tmp_path / 'o.mp4').exists()
