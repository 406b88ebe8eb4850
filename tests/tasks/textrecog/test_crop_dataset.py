"""crop_text_region on synthetic images with a known answer; TextDetCropDataset and the crop converter on
the synthetic text-detection data (ICDAR 2015, MMOCR JSON and PaddleOCR labels)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import visioncraft  # noqa: F401
from visioncraft.cli.converters import main_crop_textdet
from visioncraft.data.synthetic.text import generate_text_det
from visioncraft.registry import DATASETS
from visioncraft.tasks.textrecog.datasets import TextDetCropDataset, crop_textdet_to_recog
from visioncraft.tasks.textrecog.utils import crop_text_region, text_quad

REPO = Path(__file__).resolve().parents[3]
H, W = 16, 40


def pattern():
    """A smooth 16 x 40 uint8 pattern (bilinear resampling twice stays within a few grey levels)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.clip(128 + 60 * np.sin(xx / 3.0) + 50 * np.cos(yy / 2.5), 0, 255).astype(np.uint8)


def outline(x0, y0, x1, y1):
    """Quad TL, TR, BR, BL around the pixels img[y0:y1 + 1, x0:x1 + 1] (pixel centres at integers)."""
    return [x0 - 0.5, y0 - 0.5, x1 + 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5, x0 - 0.5, y1 + 0.5]


def test_axis_aligned_quad_is_an_exact_slice():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    for interp in ('nearest', 'linear', 'cubic'):
        crop = crop_text_region(img, outline(10, 20, 49, 35), interpolation=interp)
        assert crop.shape == (16, 40, 3) and np.array_equal(crop, img[20:36, 10:50])
    # the point order is the reading order: the same quad listed from its bottom-right corner -> upside down
    q = np.asarray(outline(10, 20, 49, 35)).reshape(4, 2)
    crop = crop_text_region(img, np.roll(q, -2, axis=0))
    assert np.array_equal(crop, img[20:36, 10:50][::-1, ::-1])
    # a grayscale image, and an H x W x 1 one keeps its channel axis
    assert np.array_equal(crop_text_region(img[..., 0], outline(10, 20, 49, 35)), img[20:36, 10:50, 0])
    assert crop_text_region(img[..., :1], outline(10, 20, 49, 35)).shape == (16, 40, 1)


@pytest.mark.parametrize('angle', [30, -20, 123])
def test_rotated_rectangle_is_rectified(angle):
    # draw the pattern rotated by `angle` about its top-left outer corner; its outline's image is the quad
    p = pattern()
    m = cv2.getRotationMatrix2D((0, 0), angle, 1.0)
    m[:, 2] = [70, 70]
    scene = cv2.warpAffine(p, m, (160, 160), flags=cv2.INTER_LINEAR)
    corners = np.array([[-0.5, -0.5], [W - 0.5, -0.5], [W - 0.5, H - 0.5], [-0.5, H - 0.5]])
    quad = corners @ m[:, :2].T + m[:, 2]
    crop = crop_text_region(scene, quad.reshape(-1), interpolation='linear')
    assert crop.shape == (H, W)
    err = np.abs(crop.astype(int) - p)[1:-1, 1:-1]  # the outermost ring mixes in the black background
    assert err.mean() < 1.5 and err.max() <= 6
    # a quad half a pixel off is measurably worse: the test sees the pixel convention
    off = crop_text_region(scene, (quad + 0.5).reshape(-1), interpolation='linear')
    assert np.abs(off.astype(int) - p)[1:-1, 1:-1].mean() > 5


def test_tall_crops_are_rotated_like_paddleocr():
    p = pattern()
    scene = np.zeros((80, 60), np.uint8)
    scene[10:50, 20:36] = np.rot90(p, -1)  # text turned clockwise: reads top to bottom
    quad = outline(20, 10, 35, 49)  # the tall box, TL TR BR BL
    assert np.array_equal(crop_text_region(scene, quad), p)  # 40 x 16 >= 1.5: rotated back counter-clockwise
    assert crop_text_region(scene, quad, rotate_tall=False).shape == (40, 16)
    assert crop_text_region(scene, quad, tall_ratio=3.0).shape == (40, 16)


def test_polygons_use_their_min_area_rectangle():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    x0, y0, x1, y1 = outline(10, 20, 49, 35)[0:2] + outline(10, 20, 49, 35)[4:6]
    six = [x0, y0, 30, y0, x1, y0, x1, y1, 30, y1, x0, y1]  # a 6-point rectangle
    np.testing.assert_allclose(text_quad(six), np.reshape(outline(10, 20, 49, 35), (4, 2)), atol=1e-4)
    assert np.array_equal(crop_text_region(img, six), img[20:36, 10:50])
    # a rotated 5-point polygon: ordered left-upper, right-upper, right-lower, left-lower
    pts = np.array([[0, 0], [20, 10], [15, 20], [-5, 10], [5, 5]], np.float32) + 30
    q = text_quad(pts.reshape(-1))
    assert q.shape == (4, 2) and q[0, 0] <= q[1, 0] and q[0, 1] <= q[3, 1]
    # degenerate (collinear) polygons fall back to their bounding box; bad input is an error
    assert crop_text_region(img, [1, 1, 5, 1, 9, 1, 5, 1]).shape == (1, 8, 3)
    with pytest.raises(ValueError, match='at least 3'):
        text_quad([0, 0, 1, 1])
    with pytest.raises(ValueError, match='interpolation'):
        crop_text_region(img, six, interpolation='bicubic')


@pytest.fixture(scope='module')
def det_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('textdet')
    return Path(generate_text_det(root, num_train=3, num_val=0, size=(96, 128), seed=1, max_words=4,
                                  ignore_ratio=0.3))


def det_cfgs(root):
    return dict(
        icdar=dict(type='ICDAR2015Dataset', data_root=str(root),
                   data_prefix=dict(img_path='imgs/train/', ann_path='annotations/train/'), test_mode=True),
        mmocr=dict(type='OCRDataset', data_root=str(root), ann_file='textdet_train.json', test_mode=True),
        paddle=dict(type='PaddleOCRDetDataset', data_dir=str(root), label_file_list=str(root / 'train_label.txt'),
                    test_mode=True))


def test_crop_dataset_on_the_three_formats(det_root):
    ann = json.loads((det_root / 'textdet_train.json').read_text())
    words = [(e['img_path'], k, i['text']) for e in ann['data_list'] for k, i in enumerate(e['instances'])
             if not i['ignore']]
    assert 0 < len(words) < sum(len(e['instances']) for e in ann['data_list'])  # some '###' left out
    infos = {}
    for name, cfg in det_cfgs(det_root).items():
        ds = DATASETS.build(dict(type='TextDetCropDataset', dataset=cfg))
        assert len(ds) == len(words), name
        infos[name] = [ds.get_data_info(i) for i in range(len(ds))]
        assert [(Path(i['img_path']).relative_to(det_root).as_posix(), i['instance_idx'], i['instances'][0]['text'])
                for i in infos[name]] == words
        assert [i['polygon'] for i in infos[name]] == [i['polygon'] for i in infos['icdar']]
    ds = TextDetCropDataset(det_cfgs(det_root)['mmocr'])
    for i in range(len(ds)):
        out, info = ds[i], infos['mmocr'][i]
        expected = crop_text_region(cv2.imread(info['img_path']), info['polygon'])
        assert np.array_equal(out['img'], expected) and out['img_shape'] == expected.shape[:2]
        assert out['instances'] == [dict(text=words[i][2])]
        assert out['img'].shape[1] > out['img'].shape[0]  # the synthetic words are wider than tall


def test_crop_dataset_pipeline_and_errors(det_root):
    cfg = det_cfgs(det_root)['mmocr']
    # a recognition pipeline that starts with LoadImageFromFile: that step is replaced by the crop, with
    # its color_type; the rest runs (LoadOCRAnnotations puts gt_texts)
    ds = TextDetCropDataset(cfg, pipeline=[dict(type='LoadImageFromFile', color_type='grayscale'),
                                           dict(type='LoadOCRAnnotations', with_text=True)])
    out = ds[0]
    assert out['img'].ndim == 2 and out['gt_texts'] == [out['instances'][0]['text']]
    assert len(TextDetCropDataset(cfg, min_size=1000)) == 0
    assert len(TextDetCropDataset(cfg, indices=2)) == 2
    with pytest.raises(TypeError, match='text-detection dataset'):
        TextDetCropDataset([1, 2])
    with pytest.raises(ValueError, match='img_color_type'):
        TextDetCropDataset(cfg, img_color_type='rgb')
    bad = dict(cfg, ann_file='nope.json')
    with pytest.raises(FileNotFoundError, match='nope.json'):
        TextDetCropDataset(bad)


def test_crop_margin_fixed_and_random(det_root):
    from visioncraft.tasks.textrecog.utils import expand_text_quad
    cfg = det_cfgs(det_root)['mmocr']
    plain, grown = TextDetCropDataset(cfg), TextDetCropDataset(cfg, margin=0.2)
    info = grown.get_data_info(0)
    expected = crop_text_region(cv2.imread(info['img_path']), expand_text_quad(info['polygon'], 0.2).reshape(-1))
    assert np.array_equal(grown[0]['img'], expected)
    assert grown[0]['img'].shape[0] > plain[0]['img'].shape[0]  # 20 % of the height added above and below
    ranged = TextDetCropDataset(cfg, margin=(0.0, 0.3))
    np.random.seed(0)
    heights = {ranged[0]['img'].shape[0] for _ in range(8)}
    assert len(heights) > 1 and min(heights) >= plain[0]['img'].shape[0]
    with pytest.raises(ValueError, match='margin'):
        TextDetCropDataset(cfg, margin=(0.3, 0.1))


@pytest.mark.slow
def test_crop_converter_writes_recognition_datasets(det_root, tmp_path):
    n = crop_textdet_to_recog(det_cfgs(det_root)['icdar'], str(tmp_path / 'mm'), base_dir=str(det_root))
    rec = DATASETS.build(dict(type='TextRecogDataset', data_root=str(tmp_path / 'mm'), ann_file='textrecog.json'))
    crops = TextDetCropDataset(det_cfgs(det_root)['icdar'])
    assert len(rec) == len(crops) == n
    first = rec.get_data_info(0)
    assert Path(first['img_path']).name == 'imgs_train_img_1_0.jpg'
    assert first['instances'] == crops.get_data_info(0)['instances']
    img = cv2.imread(first['img_path'])
    assert img.shape == crops[0]['img'].shape  # the JPEG of the same crop
    # PaddleOCR label format through the command-line entry point (PNG: lossless)
    main_crop_textdet([str(det_root / 'train_label.txt'), str(tmp_path / 'pd'), '--label-format', 'paddle',
                       '--ext', '.png'])
    lines = (tmp_path / 'pd' / 'rec_gt.txt').read_text(encoding='utf-8').splitlines()
    assert len(lines) == n and lines[0].split('\t')[0] == 'imgs/imgs_train_img_1_0.png'
    pd = DATASETS.build(dict(type='PaddleOCRRecDataset', data_dir=str(tmp_path / 'pd'),
                             label_file_list=str(tmp_path / 'pd' / 'rec_gt.txt')))
    assert [pd.get_data_info(i)['instances'] for i in range(n)] == [rec.get_data_info(i)['instances'] for i in range(n)]
    assert np.array_equal(cv2.imread(pd.get_data_info(0)['img_path']), crops[0]['img'])
    # the tool script (ICDAR 2015 folders); a missing --ann-dir is a usage error
    tool = REPO / 'tools/dataset_converters/textrecog/crop_textdet.py'
    subprocess.run([sys.executable, str(tool), str(det_root / 'imgs/train'), str(tmp_path / 'ic'), '--ann-dir',
                    str(det_root / 'annotations/train')], check=True, cwd=REPO, capture_output=True)
    assert len(json.loads((tmp_path / 'ic' / 'textrecog.json').read_text())['data_list']) == n
    with pytest.raises(SystemExit):
        main_crop_textdet([str(det_root / 'imgs/train'), str(tmp_path / 'x')])
