"""MMOCR's one ``OCRDataset`` name for every task's JSON: a textrecog file is read by TextRecogDataset."""
import json

import pytest

from visioncraft.registry import DATASETS
from visioncraft.tasks.textdet.datasets import OCRDataset
from visioncraft.tasks.textdet.datasets.textdet_datasets import ocr_json_task
from visioncraft.tasks.textrecog.datasets import TextRecogDataset


def _write(path, metainfo, data_list):
    path.write_text(json.dumps(dict(metainfo=metainfo, data_list=data_list)))
    return path


def test_ocr_dataset_reads_recog_and_det_json(tmp_path):
    recog = _write(tmp_path / 'recog.json', dict(dataset_type='TextRecogDataset', task_name='textrecog'),
                   [dict(img_path='a.jpg', instances=[dict(text='hello')])])
    det = _write(tmp_path / 'det.json', dict(dataset_type='TextDetDataset', task_name='textdet'),
                 [dict(img_path='b.jpg', height=10, width=10,
                       instances=[dict(polygon=[0, 0, 5, 0, 5, 5, 0, 5], bbox_label=0, ignore=False, text='x')])])
    ds = DATASETS.build(dict(type='OCRDataset', data_root=str(tmp_path), ann_file='recog.json'))
    assert type(ds) is TextRecogDataset
    assert ds[0]['instances'] == [dict(text='hello')]
    ds = DATASETS.build(dict(type='OCRDataset', data_root=str(tmp_path), ann_file='det.json'))
    assert type(ds) is OCRDataset and ds[0]['instances'][0]['polygon'] == [0, 0, 5, 0, 5, 5, 0, 5]
    # no task_name: guessed from the first instance
    guess = _write(tmp_path / 'guess.json', {}, [dict(img_path='a.jpg', instances=[dict(text='w')])])
    assert ocr_json_task(str(guess)) == 'textrecog'
    assert type(OCRDataset(ann_file=str(guess))) is TextRecogDataset
    # subclasses of OCRDataset are never redirected
    from visioncraft.tasks.textdet.datasets.synth_dataset import SynthTextDetDataset
    assert issubclass(SynthTextDetDataset, OCRDataset)


def test_ocr_dataset_missing_file_still_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        DATASETS.build(dict(type='OCRDataset', data_root=str(tmp_path), ann_file='nope.json'))
