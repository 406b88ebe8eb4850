"""The MMOCR user's CRNN workflow end to end on 20 generated word images: `tools/train.py` the MJSynth recipe
(shrunk to a tiny CRNN, pointed at the generated MMOCR textrecog JSON) for a few steps, then `tools/test.py` with
--save-preds and --show-dir, and check the checkpoint, the logged losses (num_unknown_chars included), the word
metrics, the predictions and the pictures. Also the quickstart config: it loads, and its model is CPU-sized."""
from __future__ import annotations

import json
import pickle
import runpy
import sys

import pytest

from conftest import REPO, read_scalars
from visioncraft.config import Config
from visioncraft.data.synthetic.words import generate_text_recog
from visioncraft.registry import MODELS

RECIPE = REPO / 'configs/textrecog/crnn/crnn_mini-vgg_5e_mj.py'
QUICKSTART = REPO / 'configs/quickstart/textrecog_synth.py'


def _run_tool(script: str, args: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, 'argv', [script, *args])
    try:
        runpy.run_path(str(REPO / script), run_name='__main__')
    except SystemExit as exc:
        assert exc.code in (0, None), f'{script} exited with {exc.code}'


def test_crnn_recipe_train_then_test_with_preds_and_pictures(tmp_path, monkeypatch):
    root = tmp_path / 'words'
    generate_text_recog(root, num_train=12, num_val=8, seed=1, size_range=(14, 18), fonts='default')
    wd = tmp_path / 'work'
    # the recipe tests on six benchmarks (a ConcatDataset): point each at the generated words
    six = [opt for i in range(6) for opt in (f'test_dataloader.dataset.datasets.{i}.data_root={root}',
                                             f'test_dataloader.dataset.datasets.{i}.ann_file=textrecog_val.json')]
    opts = [f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
            *six, 'val_dataloader.dataset.ann_file=textrecog_val.json',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.batch_size=4',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            'test_dataloader.batch_size=4', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            '+model.backbone.widths=[8,8,16,16,16,16,16]', 'model.decoder.in_channels=16',
            'default_hooks.logger.interval=1']
    _run_tool('tools/train.py', [str(RECIPE), '--work-dir', str(wd), '--cfg-options', 'train_cfg.max_epochs=1',
                                 *opts], monkeypatch)
    ckpt = wd / 'epoch_1.pth'
    assert ckpt.exists()
    logged = [r for r in read_scalars(wd) if 'loss' in r]
    assert len(logged) == 3 and all(r['loss_ctc'] > 0 and r['num_unknown_chars'] == 0 for r in logged)

    _run_tool('tools/test.py', [str(RECIPE), str(ckpt), '--work-dir', str(wd), '--save-preds', '--show-dir', 'vis',
                                '--cfg-options', *opts], monkeypatch)
    metrics = json.loads(sorted(wd.glob('*/metrics.json'))[-1].read_text())
    # MultiDatasetsEvaluator: every metric once per benchmark, under its prefix; the six sets are one data here
    names = ('CUTE80', 'IIIT5K', 'SVT', 'SVTP', 'IC13', 'IC15')
    keys = {'recog/word_acc', 'recog/word_acc_ignore_case', 'recog/word_acc_ignore_case_symbol',
            'recog/char_recall', 'recog/char_precision'}
    assert {f'{n}/{k}' for n in names for k in keys} == set(metrics)
    assert all(0.0 <= metrics[f'{n}/{k}'] <= 1.0 for n in names for k in keys)
    assert len({metrics[f'{n}/recog/char_recall'] for n in names}) == 1
    preds = pickle.loads(next(wd.glob('*/predictions.pkl')).read_bytes())
    labels = {d['img_path']: d['instances'][0]['text']
              for d in json.loads((root / 'textrecog_val.json').read_text())['data_list']}
    assert len(preds) == 6 * 8
    for p in preds:
        assert isinstance(p['pred_text'], str) and isinstance(p['pred_score'], float)
        assert len(p['pred_char_scores']) == len(p['pred_text'])
        assert p['gt_text'] == labels[str(p['img_path']).split(str(root) + '/')[-1]]
    assert len(list(wd.glob('*/vis/*.png'))) == 8  # the same 8 word images, drawn once per name


def test_quickstart_config_loads_and_builds_a_small_crnn():
    cfg = Config.fromfile(QUICKSTART)
    model = MODELS.build(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model))
    assert type(model).__name__ == 'CRNN' and model.decoder.codec.num_classes == 37
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    keys = ('type', 'data_root', 'num_train', 'num_val', 'seed')
    assert len({tuple(str(cfg[k]['dataset'].get(x)) for x in keys)
                for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}) == 1
    assert [m['type'] for m in cfg.val_evaluator] == ['WordMetric', 'CharMetric', 'OneMinusNEDMetric']


@pytest.mark.parametrize('config', [RECIPE, QUICKSTART])
def test_pipelines_end_in_pack_text_recog_inputs(config):
    cfg = Config.fromfile(config)
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        pipe = (dataset['datasets'][0] if dataset['type'] == 'ConcatDataset' else dataset)['pipeline']
        assert pipe[-1]['type'] == 'PackTextRecogInputs' and 'valid_ratio' in pipe[-1]['meta_keys']
        assert any(t['type'] == 'LoadOCRAnnotations' and t['with_text'] for t in pipe)
