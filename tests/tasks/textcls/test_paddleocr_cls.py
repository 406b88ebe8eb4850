"""PaddleOCR's text-direction classifier YAML (``configs/cls/cls_mv3.yml``: MobileNetV3 small x0.35, ClsHead,
ClsLoss, ClsPostProcess, ClsMetric): it builds the official classifier's layout, so the imported
``ch_ppocr_mobile_v2.0_cls_infer.onnx`` weights load strictly with ONNX Runtime's scores; ``tools/train.py -c``
trains and evaluates it on generated upright / upside-down word crops; bad labels and keys are one clear error."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, run_ppocr_onnx
from visioncraft.config.compat.paddleocr import load_paddleocr_config
from visioncraft.data.synthetic.words import generate_text_recog
from visioncraft.config import ConfigError
from visioncraft.registry import DATASETS, MODELS

YAML = str(REPO / 'configs/cls/cls_mv3.yml')


def make_cls_data(root: Path, num_train: int = 4, num_val: int = 2, seed: int = 5) -> Path:
    """Generated word crops, every other one turned 180 degrees; PaddleOCR cls label files train.txt / test.txt."""
    words = generate_text_recog(root / 'words', num_train=num_train, num_val=num_val, seed=seed)
    for split, label_file in (('train', 'train_label.txt'), ('test', 'val_label.txt')):
        lines = []
        for i, line in enumerate((words / label_file).read_text().splitlines()):
            rel = line.split('\t', 1)[0]
            img = cv2.imread(str(words / rel))
            label = '180' if i % 2 else '0'
            out = root / 'crops' / split / f'{i}.png'
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), np.ascontiguousarray(img[::-1, ::-1]) if label == '180' else img)
            lines.append(f'crops/{split}/{i}.png\t{label}')
        (root / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def _data(root: Path) -> dict:
    return {'Train.dataset.data_dir': str(root), 'Train.dataset.label_file_list': [f'{root}/train.txt'],
            'Eval.dataset.data_dir': str(root), 'Eval.dataset.label_file_list': [f'{root}/test.txt']}


def test_yaml_builds_the_classifier_and_its_data(tmp_path):
    root = make_cls_data(tmp_path)
    cfg = load_paddleocr_config(YAML, _data(root))
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'TextDirectionClassifier' and model.labels == ['0', '180']
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    sample = ds[1]
    assert tuple(sample['inputs'].shape) == (3, 48, 192) and int(sample['data_samples'].gt_label) == 1
    assert cfg.val_evaluator == dict(type='Accuracy', topk=1)


@pytest.mark.parametrize('override, message', [
    ({'Train.dataset.transforms.2': {'RandAugment': None}}, 'RandAugment .* is not implemented'),
    ({'Architecture.Head.class_dim': 3}, 'class_dim: is 3 but label_list has 2 labels'),
    ({'Architecture.Backbone.model_name': 'tiny'}, "model_name: must be 'small' or 'large'"),
])
def test_bad_keys_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        cfg = load_paddleocr_config(YAML, override)
        MODELS.build(cfg.model)


def test_a_label_outside_label_list_names_the_file(tmp_path):
    root = make_cls_data(tmp_path, num_train=2, num_val=2)
    (root / 'test.txt').write_text('crops/test/0.png\t90\n')
    cfg = load_paddleocr_config(YAML, _data(root))
    with pytest.raises(Exception, match=r"test.txt: image 'crops/test/0.png' has the label '90', which is not in "):
        DATASETS.build(cfg.val_dataloader.dataset)


pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')
pytest.importorskip('onnxruntime', reason='test extra: onnxruntime')


@pytest.fixture(scope='module')
def imported(tmp_path_factory) -> Path:
    from visioncraft.apis.ppocr_weights import import_ppocr_weights
    out = tmp_path_factory.mktemp('cls_yaml') / 'cls.pth'
    import_ppocr_weights('ppocr_mobile_v2.0_cls', out_file=out)
    return out


def _crops() -> torch.Tensor:
    page = cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)
    upright = cv2.resize(page[2:40, :170], (192, 48), interpolation=cv2.INTER_LINEAR)
    noise = np.random.default_rng(0).integers(0, 256, (48, 192, 3), dtype=np.uint8)
    imgs = [upright, np.ascontiguousarray(upright[::-1, ::-1]), noise]
    x = np.stack([(im.astype(np.float32) - 127.5) / 127.5 for im in imgs]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x))


def test_official_weights_load_strictly_with_onnxruntimes_scores(imported):
    model = MODELS.build(load_paddleocr_config(YAML).model)
    model.load_state_dict(torch.load(imported, weights_only=True)['state_dict'], strict=True)
    model.eval()
    with torch.no_grad():
        ours = model(_crops(), mode='tensor').numpy()
    ref = run_ppocr_onnx('ppocr_mobile_v2.0_cls', _crops())
    assert ours.shape == ref.shape == (3, 2) and np.abs(ours - ref).max() < 1e-5
    assert 0.1 < ref[2, 0] < 0.9 and ours[0].argmax() == 0 and ours[1].argmax() == 1


def test_tools_train_fine_tunes_and_evaluates_from_the_imported_weights(imported, tmp_path):
    from visioncraft.cli.train import main as train_main
    root = make_cls_data(tmp_path / 'data')
    work = tmp_path / 'work'
    opts = {**_data(root), 'Global.pretrained_model': str(imported), 'Global.save_model_dir': str(work),
            'Global.epoch_num': 1, 'Global.print_batch_step': 1, 'Global.eval_batch_step': [0, 2],
            'Train.loader.batch_size_per_card': 2, 'Train.loader.num_workers': 0, 'Eval.loader.num_workers': 0}
    train_main(['-c', YAML, '-o', *[f'{k}={v}' for k, v in opts.items()]])
    ckpt = torch.load(work / 'iter_epoch_1.pth', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 2)
    start = torch.load(imported, weights_only=True)['state_dict']
    tuned = ckpt['state_dict']
    assert set(tuned) == set(start) and all(torch.isfinite(v).all() for v in tuned.values() if v.is_floating_point())
    changed = [k for k in start if start[k].is_floating_point() and not torch.equal(start[k], tuned[k])]
    assert any(k.startswith('backbone.') for k in changed) and any(k.startswith('head.') for k in changed)
    assert [p.name for p in work.glob('best_*.pth')]  # evaluated (accuracy/top1) and kept the best
