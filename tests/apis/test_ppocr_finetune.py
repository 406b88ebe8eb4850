"""Fine-tuning PP-OCRv4 from the official weights, the way a user does it: ``visioncraft import-weights`` writes the
checkpoints, then the training commands load them (PaddleOCR's YAML with ``Global.pretrained_model`` for the
detector, our config with ``--cfg-options load_from`` for the recogniser). At the start of training (after the
Runner loaded the checkpoint, before the first step) the models give ONNX Runtime's outputs on a real page; two
iterations on our generated text data then run and the checkpoint written holds the fine-tuned weights.
The folded checkpoint in the training-form YAML (no ``deploy=True``) is refused with one line saying what to add."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, run_ppocr_onnx
from visioncraft.engine.hooks.hook import Hook
from visioncraft.registry import HOOKS

pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')
pytest.importorskip('onnxruntime', reason='test extra: onnxruntime')

from visioncraft.apis.ppocr_weights import PPOCR_MODELS, rapidocr_model_path  # noqa: E402
from visioncraft.cli import train as train_cli  # noqa: E402
from visioncraft.cli.import_weights import main as import_main  # noqa: E402
from visioncraft.data.synthetic.text import generate_text_det  # noqa: E402
from visioncraft.data.synthetic.words import generate_text_recog  # noqa: E402

YAML = str(REPO / 'configs/det/PP-OCRv4/PP-OCRv4_mobile_det.yml')
REC_CFG = str(REPO / 'configs/ppocr/ppocrv4_mobile_rec.py')


def _normalised(img: np.ndarray, mean, std) -> torch.Tensor:
    x = (img.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def _page_inputs() -> dict[str, torch.Tensor]:
    page = cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)
    title = cv2.resize(page[2:40, :300], (320, 48), interpolation=cv2.INTER_LINEAR)
    return dict(det=_normalised(page[:96, :128], [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
                rec=_normalised(title, [127.5] * 3, [127.5] * 3))


@HOOKS.register_module(force=True)
class PPOCRStartProbeHook(Hook):
    """Records the model's output on a fixed input when training starts (the checkpoint is loaded by then)."""

    outputs: dict[str, np.ndarray] = {}

    def __init__(self, key: str) -> None:
        self.key = key

    def before_train(self, runner) -> None:
        model = getattr(runner.model, 'module', runner.model)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(_page_inputs()[self.key].to(next(model.parameters()).device), mode='tensor')
        model.train(was_training)
        type(self).outputs[self.key] = out.cpu().numpy()


@pytest.fixture
def probe(monkeypatch):
    """``visioncraft train`` / ``tools/train.py`` exactly, with the probe hook added to the config they prepare."""
    original = train_cli.prepare_config
    PPOCRStartProbeHook.outputs.clear()

    def with_probe(key):
        def prepare(args):
            cfg = original(args)
            cfg['custom_hooks'] = list(cfg.get('custom_hooks') or []) + [dict(type='PPOCRStartProbeHook', key=key)]
            return cfg
        monkeypatch.setattr(train_cli, 'prepare_config', prepare)
    return with_probe


@pytest.fixture(scope='module')
def imported(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp('imported')
    ckpts = {}
    for key, model in (('det', 'ppocrv4_det'), ('rec', 'ppocrv4_rec')):
        ckpts[key] = out / f'{key}.pth'
        res = import_main([str(rapidocr_model_path(PPOCR_MODELS[f'ppocrv4_mobile_{key}'].onnx_file)),
                           '--out', str(ckpts[key]), '--model', model])
        assert res['model'] == f'ppocrv4_mobile_{key}' and res['config'].startswith('configs/ppocr/')
    return ckpts


def _det_options(root: Path, work: Path, ckpt: Path, deploy: bool = True) -> list[str]:
    return [*(['+Architecture.Backbone.deploy=True'] if deploy else []), f'Global.pretrained_model={ckpt}',
            f'Global.save_model_dir={work}', 'Global.epoch_num=1', 'Global.print_batch_step=1',
            f'Train.dataset.data_dir={root}', f'Train.dataset.label_file_list=[{root}/train_label.txt]',
            f'Eval.dataset.data_dir={root}', f'Eval.dataset.label_file_list=[{root}/val_label.txt]',
            'Train.dataset.transforms.3.EastRandomCropData.size=[128,128]', 'Train.loader.batch_size_per_card=1',
            'Train.loader.num_workers=0', 'Eval.loader.num_workers=0']


def test_detector_fine_tunes_from_the_imported_weights_with_paddleocrs_yaml(imported, probe, tmp_path):
    root = generate_text_det(tmp_path / 'det_data', num_train=2, num_val=1, size=(128, 128), seed=3)
    work = tmp_path / 'det_work'
    probe('det')
    train_cli.main(['-c', YAML, '-o', *_det_options(root, work, imported['det'])])
    # the Runner loaded the folded checkpoint into the YAML's model: ONNX Runtime's probability map
    ours, ref = PPOCRStartProbeHook.outputs['det'], run_ppocr_onnx('ppocrv4_mobile_det', _page_inputs()['det'])[:, 0]
    assert ours.shape == ref.shape == (1, 96, 128) and np.abs(ours - ref).max() < 1e-4
    ckpt = torch.load(work / 'iter_epoch_1.pth', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 2)  # two iterations ran
    start = torch.load(imported['det'], weights_only=True)['state_dict']
    tuned = ckpt['state_dict']
    assert set(tuned) == set(start)  # the folded layout throughout, threshold branch included
    assert all(torch.isfinite(v).all() for v in tuned.values() if v.is_floating_point())
    changed = [k for k in start if start[k].is_floating_point() and not torch.equal(start[k], tuned[k])]
    assert any(k.startswith('backbone.') and 'reparam_conv' in k for k in changed)  # the backbone was trained
    assert any(k.startswith('det_head.threshold.') for k in changed)  # and the training-only branch


def test_folded_checkpoint_in_the_training_form_yaml_is_one_error_line(imported, tmp_path, capsys):
    from visioncraft.cli.main import run_cli
    root = generate_text_det(tmp_path / 'det_data', num_train=1, num_val=1, size=(64, 64), seed=3)
    with pytest.raises(SystemExit) as exc:
        run_cli(train_cli.main, ['-c', YAML, '-o', *_det_options(root, tmp_path / 'w', imported['det'], False)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1, err
    assert 'folded (deploy) form' in err[0] and '+Architecture.Backbone.deploy=True' in err[0]


def test_recogniser_fine_tunes_from_the_imported_weights_with_load_from(imported, probe, tmp_path):
    root = generate_text_recog(tmp_path / 'rec_data', num_train=4, num_val=2, seed=5)
    work = tmp_path / 'rec_work'
    probe('rec')
    train_cli.main([REC_CFG, '--work-dir', str(work), '--no-validate', '--cfg-options', f'load_from={imported["rec"]}',
                    f'train_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=2',
                    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                    'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1'])
    ours, ref = PPOCRStartProbeHook.outputs['rec'], run_ppocr_onnx('ppocrv4_mobile_rec', _page_inputs()['rec'])
    assert ours.shape == ref.shape == (1, 40, 6625) and np.abs(ours - ref).max() < 1e-4
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 2)
    start = torch.load(imported['rec'], weights_only=True)['state_dict']
    tuned = ckpt['state_dict']
    assert set(tuned) == set(start)
    changed = [k for k in start if start[k].is_floating_point() and not torch.equal(start[k], tuned[k])]
    assert any(k.startswith('backbone.') for k in changed) and any(k.startswith('decoder.') for k in changed)
    assert all(torch.isfinite(v).all() for v in tuned.values() if v.is_floating_point())
