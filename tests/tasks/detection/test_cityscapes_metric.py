"""CityscapesMetric(format_only=True): the official instance-level result files (one ``<basename>_pred.txt`` per
image, one binary mask PNG per instance) with the Cityscapes label ids, scores and mask pixels of the predictions."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.converters import CITYSCAPES_CLASSES
from visioncraft.tasks.detection.evaluation import CityscapesMetric
from visioncraft.tasks.detection.evaluation.cityscapes_metric import _cityscapes_scripts

CLASSES = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')  # the configs' order
H, W = 6, 8


def _masks(*boxes):
    """Bool N x H x W masks, each filling the rectangle (y0, y1, x0, x1)."""
    out = np.zeros((len(boxes), H, W), dtype=bool)
    for m, (y0, y1, x0, x1) in zip(out, boxes):
        m[y0:y1, x0:x1] = True
    return out


def _sample(name, masks, labels, scores, **extra):
    pred = InstanceData(masks=torch.from_numpy(masks), labels=torch.tensor(labels, dtype=torch.int64),
                        scores=torch.tensor(scores, dtype=torch.float32),
                        bboxes=torch.zeros(len(labels), 4), **extra)
    return DataSample(metainfo=dict(img_path=f'data/cityscapes/leftImg8bit/test/berlin/{name}_leftImg8bit.png',
                                    ori_shape=(H, W)), pred_instances=pred)


def _run(metric, samples):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_format_only_writes_the_official_txt_and_png_files(tmp_path):
    a_masks = _masks((0, 3, 0, 4), (2, 6, 5, 8))
    b_masks = _masks((1, 2, 1, 2))
    samples = [
        _sample('berlin_000000_000019', a_masks, [0, 2], [0.75, 0.5]),  # person, car
        # a model with separate mask scores (MS R-CNN): those are written
        _sample('berlin_000001_000019', b_masks, [7], [0.9], mask_scores=torch.tensor([0.25])),
        _sample('berlin_000002_000019', np.zeros((0, H, W), bool), [], []),  # nothing detected: an empty txt
    ]
    out = tmp_path / 'mask_rcnn_cityscapes_test_results'
    metric = METRICS.build(dict(type='CityscapesMetric', format_only=True, txtfile_prefix=str(out)))
    assert _run(metric, samples) == {}

    lines = (out / 'berlin_000000_000019_leftImg8bit_pred.txt').read_text().splitlines()
    assert [line.split(' ')[:2] for line in lines] == [
        ['berlin_000000_000019_leftImg8bit_0_person.png', str(CITYSCAPES_CLASSES['person'])],
        ['berlin_000000_000019_leftImg8bit_1_car.png', str(CITYSCAPES_CLASSES['car'])]]
    assert [float(line.split(' ')[2]) for line in lines] == [0.75, 0.5]
    assert (CITYSCAPES_CLASSES['person'], CITYSCAPES_CLASSES['car'], CITYSCAPES_CLASSES['bicycle']) == (24, 26, 33)
    for line, mask in zip(lines, a_masks):
        png = cv2.imread(str(out / line.split(' ')[0]), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint8 and png.shape == (H, W)
        np.testing.assert_array_equal(png != 0, mask)
        assert set(np.unique(png)) <= {0, 1}

    (line,) = (out / 'berlin_000001_000019_leftImg8bit_pred.txt').read_text().splitlines()
    png, label_id, score = line.split(' ')
    assert (png, int(label_id), float(score)) == ('berlin_000001_000019_leftImg8bit_0_bicycle.png', 33, 0.25)
    np.testing.assert_array_equal(cv2.imread(str(out / png), cv2.IMREAD_UNCHANGED) != 0, b_masks[0])
    assert (out / 'berlin_000002_000019_leftImg8bit_pred.txt').read_text() == ''
    assert len(list(out.glob('*.png'))) == 3


def test_outfile_prefix_writes_to_a_results_folder_emptied_first(tmp_path):
    """MMDetection 3.x's spelling: outfile_prefix=P puts the files in P/results/, cleared as the metric is built."""
    stale = tmp_path / 'p' / 'results' / 'old_pred.txt'
    stale.parent.mkdir(parents=True)
    stale.write_text('x.png 24 1.0\n')
    metric = CityscapesMetric(outfile_prefix=str(tmp_path / 'p'), format_only=True)
    assert not stale.exists()
    _run(metric, [_sample('aachen_000000_000019', _masks((0, 1, 0, 1)), [1], [0.5])])
    txt = tmp_path / 'p' / 'results' / 'aachen_000000_000019_leftImg8bit_pred.txt'
    assert txt.read_text().split(' ')[:2] == ['aachen_000000_000019_leftImg8bit_0_rider.png', '25']


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match='format_only=True .* needs'):
        CityscapesMetric(format_only=True)
    with pytest.raises(ValueError, match='not both'):
        CityscapesMetric(outfile_prefix='a', txtfile_prefix='b', format_only=True)
    with pytest.raises(ValueError, match='file backend'):
        CityscapesMetric(txtfile_prefix=str(tmp_path), format_only=True, file_client_args=dict(backend='petrel'))
    metric = CityscapesMetric(txtfile_prefix=str(tmp_path), format_only=True)
    metric.dataset_meta = dict(classes=('person', 'dog'))
    with pytest.raises(KeyError, match="class 'dog'"):
        metric.process(None, [_sample('a_0_0', _masks((0, 1, 0, 1)), [1], [0.5])])
    metric.dataset_meta = dict(classes=CLASSES)
    wrong_size = _sample('a_0_0', _masks((0, 1, 0, 1)), [1], [0.5])
    wrong_size.set_metainfo(dict(ori_shape=(H * 2, W)))
    with pytest.raises(ValueError, match='ori_shape'):
        metric.process(None, [wrong_size])


@pytest.mark.skipif(_cityscapes_scripts() is not None, reason='cityscapesscripts is installed')
def test_evaluating_without_cityscapesscripts_says_what_to_use_instead():
    with pytest.raises(ImportError, match=r"cityscapesscripts.*format_only=True.*CocoMetric"):
        METRICS.build(dict(type='CityScapesMetric', seg_prefix='data/cityscapes/gtFine/val',
                           outfile_prefix='./work_dirs/cityscapes_metric/instance'))
