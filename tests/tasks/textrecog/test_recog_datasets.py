"""Text-recognition datasets: MMOCR textrecog JSON and PaddleOCR label files read into the same entries, bad
records name the file and line, the synthetic word set generates deterministically, and a sample goes through
the recognition pipeline."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import visioncraft  # noqa: F401
from visioncraft.registry import DATASETS

PIPE = [dict(type='LoadImageFromFile', color_type='grayscale'), dict(type='LoadOCRAnnotations', with_text=True),
        dict(type='RescaleToHeight', height=32, max_width=64, width_divisor=4), dict(type='PadToWidth', width=64),
        dict(type='PackTextRecogInputs')]
WORDS = [('w1.png', 'hello'), ('w2.png', 'a b'), ('w3.png', '中文')]


def _make(root):
    (root / 'imgs').mkdir(parents=True)
    for name, _ in WORDS:
        cv2.imwrite(str(root / 'imgs' / name), np.full((16, 40, 3), 90, np.uint8))
    data_list = [dict(img_path=f'imgs/{n}', instances=[dict(text=t)]) for n, t in WORDS]
    (root / 'textrecog_train.json').write_text(json.dumps(dict(metainfo=dict(task_name='textrecog'),
                                                               data_list=data_list)), encoding='utf-8')
    (root / 'a.txt').write_text(''.join(f'imgs/{n}\t{t}\n' for n, t in WORDS[:2]), encoding='utf-8')
    (root / 'b.txt').write_text(f'\ufeffimgs/{WORDS[2][0]}\t{WORDS[2][1]}\n\n', encoding='utf-8')


def test_mmocr_json_and_paddle_labels_give_the_same_entries(tmp_path):
    _make(tmp_path)
    mm = DATASETS.build(dict(type='TextRecogDataset', data_root=str(tmp_path), ann_file='textrecog_train.json',
                             pipeline=PIPE))
    pd = DATASETS.build(dict(type='PaddleOCRRecDataset', data_root=str(tmp_path), label_file_list=['a.txt', 'b.txt'],
                             pipeline=PIPE))
    for ds in (mm, pd):
        assert len(ds) == 3
        infos = [ds.get_data_info(i) for i in range(3)]
        assert [i['instances'] for i in infos] == [[dict(text=t)] for _, t in WORDS]
        assert [i['img_path'] for i in infos] == [str(tmp_path / 'imgs' / n) for n, _ in WORDS]
        sample = ds[1]
        assert tuple(sample['inputs'].shape) == (1, 32, 64) and sample['data_samples'].gt_text == 'a b'
    assert mm.metainfo['task_name'] == 'textrecog'
    half = DATASETS.build(dict(type='PaddleOCRRecDataset', data_root=str(tmp_path), label_file_list=['a.txt', 'b.txt'],
                               ratio_list=[0.5, 1.0]))
    assert [half.get_data_info(i)['instances'][0]['text'] for i in range(len(half))] == ['hello', '中文']


def test_filters_empty_and_too_long_texts_outside_test_mode(tmp_path):
    (tmp_path / 'l.txt').write_text('x.png\t\ny.png\tabcdef\nz.png\tab\n', encoding='utf-8')
    cfg = dict(type='PaddleOCRRecDataset', label_file_list=str(tmp_path / 'l.txt'),
               filter_cfg=dict(filter_empty_gt=True, max_text_len=5))
    assert len(DATASETS.build(cfg)) == 1
    assert len(DATASETS.build(dict(cfg, test_mode=True))) == 3


@pytest.mark.parametrize('content, line, what', [
    ('ok.png\tfine\nno_tab_here\n', 2, 'found no'),
    ('\tempty path\n', 1, 'image path .* is empty'),
])
def test_bad_paddle_lines_name_file_and_line(tmp_path, content, line, what):
    p = tmp_path / 'bad.txt'
    p.write_text(content, encoding='utf-8')
    with pytest.raises(ValueError, match=f'bad.txt, line {line}: .*{what}'):
        DATASETS.build(dict(type='PaddleOCRRecDataset', label_file_list=[str(p)]))
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        DATASETS.build(dict(type='PaddleOCRRecDataset', label_file_list=[str(tmp_path / 'missing.txt')]))
    with pytest.raises(ValueError, match='ratio_list'):
        DATASETS.build(dict(type='PaddleOCRRecDataset', label_file_list=[str(p)], ratio_list=[0.5, 0.5]))


@pytest.mark.parametrize('entry, what', [
    (dict(instances=[dict(text='a')]), 'no "img_path"'),
    (dict(img_path='x.png', instances=[]), 'one {"text"'),
    (dict(img_path='x.png', instances=[dict(polygon=[0, 0, 1, 0, 1, 1])]), 'no "text" string'),
])
def test_bad_json_entries_name_file_and_entry(tmp_path, entry, what):
    p = tmp_path / 'bad.json'
    p.write_text(json.dumps(dict(data_list=[entry])))
    with pytest.raises(ValueError, match=f'bad.json, data_list entry .*{what}'):
        DATASETS.build(dict(type='TextRecogDataset', ann_file=str(p)))


def test_synthetic_words_generate_deterministically_in_both_formats(tmp_path):
    trees = []
    for name in ('a', 'b'):
        root = tmp_path / name
        ds = DATASETS.build(dict(type='SynthTextRecogDataset', data_root=str(root), num_train=6, num_val=2, seed=5,
                                 pipeline=PIPE))
        assert len(ds) == 6 and ds.metainfo['task_name'] == 'textrecog'
        trees.append({p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()})
    assert trees[0] == trees[1] and len([k for k in trees[0] if k.endswith('.jpg')]) == 8
    texts = [d['instances'][0]['text'] for d in json.loads(trees[0]['textrecog_train.json'])['data_list']]
    assert all(t and t.isalnum() and t.isascii() for t in texts)
    paddle = DATASETS.build(dict(type='PaddleOCRRecDataset', data_root=str(tmp_path / 'a'),
                                 label_file_list=['train_label.txt']))
    assert [paddle.get_data_info(i)['instances'][0]['text'] for i in range(6)] == texts
    val = DATASETS.build(dict(type='SynthTextRecogDataset', data_root=str(tmp_path / 'a'),
                              ann_file='textrecog_val.json',
                              generate=False))
    assert len(val) == 2
    img = cv2.imread(val.get_data_info(0)['img_path'])
    assert img.ndim == 3 and 20 <= img.shape[0] <= 50 and img.shape[1] >= 10
