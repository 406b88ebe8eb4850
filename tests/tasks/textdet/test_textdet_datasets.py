"""ICDAR2015Dataset, OCRDataset / TextDetDataset and PaddleOCRDetDataset read the same instances."""
import json

import cv2
import numpy as np
import pytest

import visioncraft  # noqa: F401
from visioncraft.registry import DATASETS

GT1 = '\ufeff10,10,50,10,50,30,10,30,hello, world\n60,5,90,5,90,25,60,25,###\n'
GT2 = '1,1,20,1,20,10,1,10,abc\n'


def make_icdar(root):
    (root / 'imgs').mkdir()
    (root / 'annotations').mkdir()
    for i, gt in ((1, GT1), (2, GT2)):
        cv2.imwrite(str(root / 'imgs' / f'img_{i}.jpg'), np.zeros((40, 100, 3), np.uint8))
        (root / 'annotations' / f'gt_img_{i}.txt').write_text(gt, encoding='utf-8')
    return root


def test_icdar2015_reads_bom_commas_and_ignore(tmp_path):
    ds = DATASETS.build(dict(type='ICDAR2015Dataset', data_root=str(make_icdar(tmp_path)),
                             data_prefix=dict(img_path='imgs/', ann_path='annotations/')))
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['img_path'].endswith('img_1.jpg')
    a, b = info['instances']
    assert a['text'] == 'hello, world' and not a['ignore']
    assert a['polygon'] == [10, 10, 50, 10, 50, 30, 10, 30] and a['bbox'] == [10, 10, 50, 30]
    assert b['ignore'] and b['text'] == '###' and b['bbox_label'] == 0


def test_icdar2015_bad_line_names_file_and_line(tmp_path):
    root = make_icdar(tmp_path)
    (root / 'annotations' / 'gt_img_2.txt').write_text('1,2,3,x\n', encoding='utf-8')
    with pytest.raises(ValueError, match=r'gt_img_2\.txt, line 1'):
        DATASETS.build(dict(type='ICDAR2015Dataset', data_root=str(root)))


def test_icdar2015_missing_gt(tmp_path):
    root = make_icdar(tmp_path)
    (root / 'annotations' / 'gt_img_2.txt').unlink()
    with pytest.raises(FileNotFoundError, match='gt_img_2.txt'):
        DATASETS.build(dict(type='ICDAR2015Dataset', data_root=str(root)))


def test_mmocr_json_total_text_polygon_and_filter(tmp_path):
    data = dict(metainfo=dict(dataset_type='TextDetDataset'), data_list=[
        dict(img_path='a.jpg', height=40, width=100, instances=[
            dict(polygon=[0, 0, 10, 0, 20, 5, 10, 10, 0, 10, -1, 5], bbox=[0, 0, 20, 10], bbox_label=0,
                 ignore=False, text='curvy')]),
        dict(img_path='b.jpg', height=40, width=100, instances=[
            dict(polygon=[0, 0, 10, 0, 10, 10], bbox_label=0, ignore=True)])])
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    for type_ in ('OCRDataset', 'TextDetDataset'):
        ds = DATASETS.build(dict(type=type_, data_root=str(tmp_path), ann_file='ann.json',
                                 data_prefix=dict(img_path='imgs/')))
        assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['img_path'].endswith('imgs/a.jpg') and len(info['instances'][0]['polygon']) == 12
    second = ds.get_data_info(1)['instances'][0]
    assert second['text'] == '' and second['bbox'] == [0, 0, 10, 10]
    ds = DATASETS.build(dict(type='OCRDataset', data_root=str(tmp_path), ann_file='ann.json',
                             filter_cfg=dict(filter_empty_gt=True)))
    assert len(ds) == 1  # b.jpg has only a do-not-care instance


def test_mmocr_json_bad_polygon(tmp_path):
    data = dict(data_list=[dict(img_path='a.jpg', instances=[dict(polygon=[0, 0, 1, 1], ignore=False)])])
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"ann\.json.*'a\.jpg'.*instance 0.*4 coordinates"):
        DATASETS.build(dict(type='OCRDataset', ann_file=str(tmp_path / 'ann.json')))


def test_paddle_label_file_and_ratio(tmp_path):
    lines = [f'imgs/{i}.jpg\t' + json.dumps([{'transcription': 'ab', 'points': [[1, 2], [9, 2], [9, 8], [1, 8]]},
                                              {'transcription': '###', 'points': [[0, 0], [4, 0], [4, 4]]}])
             for i in range(4)]
    (tmp_path / 'a.txt').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    (tmp_path / 'b.txt').write_text(lines[0] + '\n', encoding='utf-8')
    ds = DATASETS.build(dict(type='PaddleOCRDetDataset', data_dir=str(tmp_path), label_file_list=[
        str(tmp_path / 'a.txt'), str(tmp_path / 'b.txt')], ratio_list=[0.5, 1.0]))
    assert len(ds) == 3
    inst = ds.get_data_info(0)['instances']
    assert inst[0]['polygon'] == [1, 2, 9, 2, 9, 8, 1, 8] and inst[0]['text'] == 'ab' and not inst[0]['ignore']
    assert inst[1]['ignore'] and inst[1]['bbox'] == [0, 0, 4, 4]
    assert ds.get_data_info(0)['img_path'] == str(tmp_path / 'imgs/0.jpg')


@pytest.mark.parametrize('line, msg', [('x.jpg no tab', 'no tab'), ('x.jpg\t[{', 'not valid JSON'),
                                       ('x.jpg\t[{"transcription": "a"}]', 'no "points"')])
def test_paddle_bad_lines(tmp_path, line, msg):
    (tmp_path / 'l.txt').write_text('ok.jpg\t[]\n' + line + '\n', encoding='utf-8')
    with pytest.raises(ValueError, match=rf'l\.txt, line 2.*{msg}'):
        DATASETS.build(dict(type='PaddleOCRDetDataset', label_file_list=str(tmp_path / 'l.txt')))
