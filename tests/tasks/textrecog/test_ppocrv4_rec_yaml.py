"""PaddleOCR's PP-OCRv4 mobile recogniser YAML (``configs/rec/PP-OCRv4/PP-OCRv4_mobile_rec.yml``: PPLCNetV3,
MultiHead = CTC branch with the SVTR neck + NRTR training branch, MultiLoss): it builds a
:class:`MultiHeadRecognizer` whose CTC branch has the official inference model's layout, so the imported
``ch_PP-OCRv4_rec_infer.onnx`` weights load into it with nothing of the CTC branch missing and the same logits as
ONNX Runtime; ``tools/train.py -c`` trains it (both losses) from them on generated words; inference never runs the
NRTR branch."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, run_ppocr_onnx
from visioncraft.config.compat.paddleocr import load_paddleocr_config
from visioncraft.data.synthetic.words import generate_text_recog
from visioncraft.registry import MODELS

YAML = str(REPO / 'configs/rec/PP-OCRv4/PP-OCRv4_mobile_rec.yml')
_GTC = ('before_gtc.', 'gtc_head.')


def _model(deploy: bool = False):
    cfg = load_paddleocr_config(YAML, {'+Architecture.Backbone.deploy': True} if deploy else None)
    return MODELS.build(cfg.model)


def test_yaml_builds_the_multi_head_recogniser_whose_ctc_branch_is_the_inference_model():
    import visioncraft.tasks  # noqa: F401  (registers the models)
    model = _model()
    assert type(model).__name__ == 'MultiHeadRecognizer'
    assert type(model.backbone).__name__ == 'PPLCNetV3' and model.encoder.use_guide
    model.eval()
    calls = []
    model.gtc_head.register_forward_pre_hook(lambda *a: calls.append(1))
    model.before_gtc.register_forward_pre_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 48, 96), mode='tensor')
    assert out.shape == (1, 12, 6625) and not calls  # inference: the CTC branch alone


pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')
pytest.importorskip('onnxruntime', reason='test extra: onnxruntime')


def _title() -> torch.Tensor:
    page = cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)
    crop = cv2.resize(page[2:40, :300], (320, 48), interpolation=cv2.INTER_LINEAR)
    x = (crop.astype(np.float32) - 127.5) / 127.5
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


@pytest.fixture(scope='module')
def imported(tmp_path_factory) -> Path:
    from visioncraft.apis.ppocr_weights import import_ppocr_weights
    out = tmp_path_factory.mktemp('rec_yaml') / 'rec.pth'
    import_ppocr_weights('ppocrv4_mobile_rec', out_file=out)
    return out


def test_official_weights_load_strictly_into_the_ctc_branch_with_onnxruntimes_logits(imported):
    model = _model(deploy=True)
    state = torch.load(imported, weights_only=True)['state_dict']
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected
    assert missing and all(k.startswith(_GTC) for k in missing)  # only the training-only NRTR branch
    model.eval()
    with torch.no_grad():
        ours = model(_title(), mode='tensor').numpy()
        pred = model(_title(), mode='predict')[0]
    ref = run_ppocr_onnx('ppocrv4_mobile_rec', _title())
    assert ours.shape == ref.shape == (1, 40, 6625) and np.abs(ours - ref).max() < 1e-4
    assert pred.pred_text == 'Region-based segmentation'


def test_tools_train_runs_both_losses_from_the_imported_weights(imported, tmp_path):
    from visioncraft.cli.train import main as train_main
    root = generate_text_recog(tmp_path / 'words', num_train=4, num_val=2, seed=5)
    work = tmp_path / 'work'
    train_main(['-c', YAML, '-o', '+Architecture.Backbone.deploy=True', f'Global.pretrained_model={imported}',
                f'Global.save_model_dir={work}', 'Global.epoch_num=1', 'Global.print_batch_step=1',
                'Global.eval_batch_step=[0,1000]', 'Optimizer.lr.warmup_epoch=0',
                f'Train.dataset.data_dir={root}', f'Train.dataset.label_file_list=[{root}/train_label.txt]',
                f'Eval.dataset.data_dir={root}', f'Eval.dataset.label_file_list=[{root}/val_label.txt]',
                'Train.loader.batch_size_per_card=2', 'Train.loader.num_workers=0', 'Eval.loader.num_workers=0',
                'Eval.loader.batch_size_per_card=2'])
    ckpt = torch.load(work / 'iter_epoch_1.pth', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 2)
    start = torch.load(imported, weights_only=True)['state_dict']
    tuned = ckpt['state_dict']
    assert set(tuned) - set(start) and all(k.startswith(_GTC) for k in set(tuned) - set(start))
    assert all(torch.isfinite(v).all() for v in tuned.values() if v.is_floating_point())
    changed = [k for k in start if start[k].is_floating_point() and not torch.equal(start[k], tuned[k])]
    # use_guide: the CTC loss trains the neck and classifier, the NRTR loss the backbone
    assert any(k.startswith('backbone.') for k in changed) and any(k.startswith('decoder.') for k in changed)
    assert any(k.startswith('encoder.') for k in changed)
