"""PaddleOCR recognition configs (``model_type: rec``): the translation of PaddleOCR's CRNN YAML, strict errors,
and the tiny CRNN YAML trained and evaluated on generated PaddleOCR label files (``tools/train.py -c -o``,
``tools/eval.py``); an LMDB data_dir (PaddleOCR's LMDBDataSet) read through RecogLMDBDataset."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import REPO
from visioncraft.cli.paddle_tools import eval_main
from visioncraft.cli.train import main as train_main
from visioncraft.config import ConfigError
from visioncraft.config.compat.paddleocr import load_paddleocr_config
from visioncraft.data.synthetic.words import generate_text_recog
from visioncraft.registry import DATASETS, MODELS

MV3 = str(REPO / 'configs/rec/rec_mv3_none_bilstm_ctc.yml')
TINY = str(REPO / 'configs/rec/rec_tiny_synth.yml')


@pytest.fixture(scope='module')
def words(tmp_path_factory) -> Path:
    return generate_text_recog(tmp_path_factory.mktemp('words'), num_train=16, num_val=4, seed=3)


def _data(root: Path) -> list[str]:
    return [f'Train.dataset.data_dir={root}', f'Train.dataset.label_file_list=[{root}/train_label.txt]',
            f'Eval.dataset.data_dir={root}', f'Eval.dataset.label_file_list=[{root}/val_label.txt]']


def test_crnn_mv3_yaml_translates_to_a_working_recogniser():
    cfg = load_paddleocr_config(MV3)
    m = cfg.model
    assert m.backbone.type == 'PPMobileNetV3' and (m.backbone.model_name, m.backbone.scale) == ('large', 0.5)
    assert (m.encoder.type, m.encoder.hidden_channels) == ('StackedBiLSTMEncoder', 96)
    assert m.decoder.codec.dictionary.builtin == 'lower_english_digits'  # no character_dict_path: PaddleOCR's 0-9a-z
    assert cfg.train_dataloader.dataset.type == 'RecogLMDBDataset'
    assert cfg.train_dataloader.dataset.filter_cfg.max_text_len == 25
    assert [e['type'] for e in cfg.val_evaluator] == ['WordMetric', 'OneMinusNEDMetric']
    assert cfg.default_hooks.checkpoint.save_best == 'recog/word_acc'
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.zeros(2, 3, 32, 100))
    assert logits.shape == (2, 25, 37)  # 25 frames (W / 4), 36 characters + blank


def test_dictionary_file_and_space_char(tmp_path):
    dict_file = tmp_path / 'keys.txt'
    dict_file.write_text('a\nb\nc\n', encoding='utf-8')
    cfg = load_paddleocr_config(MV3, {'Global.character_dict_path': str(dict_file), 'Global.use_space_char': True})
    codec = MODELS.build(cfg.model).decoder.codec
    assert codec.dictionary.chars == ['a', 'b', 'c', ' ']


@pytest.mark.parametrize('override, message', [
    ({'Architecture.Transform': {'name': 'TPS'}}, 'Architecture.Transform'),
    ({'Architecture.algorithm': 'SRN'}, "Architecture.algorithm: 'SRN'"),
    ({'Architecture.Neck.encoder_type': 'fc'}, 'Architecture.Neck.encoder_type'),
    ({'Architecture.Backbone': {'name': 'MobileNetV3', 'scael': 0.5}}, 'Architecture.Backbone.scael: unknown key'),
    ({'Metric.main_indicator': 'f1'}, 'Metric.main_indicator'),
])
def test_bad_keys_name_the_file_and_key(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_paddleocr_config(MV3, override)
    assert 'rec_mv3_none_bilstm_ctc.yml' in str(err.value)


def test_lmdb_data_dir_is_read(words, tmp_path):
    from visioncraft.tasks.textrecog.datasets.lmdb_dataset import write_recog_lmdb
    lmdb_dir = tmp_path / 'lmdb' / 'val'
    write_recog_lmdb(str(words / 'val_label.txt'), str(lmdb_dir), img_root=str(words))
    cfg = load_paddleocr_config(MV3, {'Eval.dataset.data_dir': str(tmp_path / 'lmdb')})
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 32, 100)
    assert sample['data_samples'].gt_text == (words / 'val_label.txt').read_text().splitlines()[0].split('\t')[1]


def test_tiny_crnn_trains_and_evaluates(words, tmp_path, capsys):
    work = tmp_path / 'work'
    train_main(['-c', TINY, '-o', *_data(words), f'Global.save_model_dir={work}', 'Global.eval_batch_step=[0,2]'])
    assert (work / 'iter_epoch_1.pth').exists()
    assert [p.name for p in work.glob('best_*.pth')] == ['best_recog_word_acc_ignore_case_symbol_epoch_0.pth']
    metrics = eval_main(['-c', TINY, '-o', *_data(words), f'Global.checkpoints={work}/latest',
                         f'Global.save_model_dir={work}'])
    assert {'recog/word_acc_ignore_case_symbol', 'recog/1-N.E.D'} <= set(metrics)
    assert 0.0 <= metrics['recog/1-N.E.D'] <= 1.0


def test_infer_rec_and_export(words, tmp_path, capsys):
    from visioncraft.cli.paddle_tools import export_main, infer_rec_main
    work = tmp_path / 'work'
    train_main(['-c', TINY, '-o', *_data(words), f'Global.save_model_dir={work}', 'Global.eval_batch_step=[0,100]'])
    res = tmp_path / 'out' / 'predicts.txt'
    results = infer_rec_main(['-c', TINY, '-o', f'Global.infer_img={words}/imgs/val',
                              f'Global.pretrained_model={work}/iter_epoch_1', f'Global.save_res_path={res}'])
    assert len(results) == 4
    lines = res.read_text().splitlines()
    assert [ln.split('\t')[0] for ln in lines] == [r['img_path'] for r in results]
    assert all(0.0 <= r['score'] <= 1.0 and set(r['text']) <= set('0123456789abcdefghijklmnopqrstuvwxyz')
               for r in results)
    assert 'result: ' in capsys.readouterr().out
    with pytest.raises(ConfigError, match="needs Architecture.model_type det, got 'rec'"):
        from visioncraft.cli.paddle_tools import infer_det_main
        infer_det_main(['-c', TINY, '-o', f'Global.infer_img={words}/imgs/val',
                        f'Global.pretrained_model={work}/iter_epoch_1'])
    written = export_main(['-c', TINY, '-o', f'Global.pretrained_model={work}/iter_epoch_1',
                           f'Global.save_inference_dir={tmp_path / "inference"}'])
    assert (tmp_path / 'inference' / 'inference.json').exists() and written
