"""DetInferencer (MMDetection 3.x's inferencer on BaseInferencer) with a tiny RetinaNet (and a tiny Mask R-CNN) whose
weights are fixed by a seed and saved in tmp_path: one JSON + one picture per image of a folder, the JSON equal to
inference_detector's predictions; URL (a loopback http.server), array and video inputs; the 'nothing above the
threshold' line; clear errors for exported directories it cannot run."""
from __future__ import annotations

import functools
import io
import http.server
import json
import logging
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_mask_rcnn, tiny_retinanet
from visioncraft.apis import DetInferencer, inference_detector, init_detector
from visioncraft.config import Config
from visioncraft.errors import ImageReadError, is_user_error
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

H, W = 48, 64
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
            dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]


def _save_model(root: Path, name: str, model_cfg: dict) -> tuple[Path, Path]:
    cfg = dict(model=model_cfg, test_dataloader=dict(batch_size=1, dataset=dict(type='CocoDataset',
                                                                                pipeline=PIPELINE)))
    cfg_path = root / f'{name}.py'
    Config(cfg).dump(cfg_path)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    ckpt = root / f'{name}.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': ['a', 'b', 'c']}}}, ckpt)
    return cfg_path, ckpt


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('det_inferencer')
    cfg, ckpt = _save_model(root, 'tiny_retinanet', tiny_retinanet())
    rng = np.random.default_rng(0)
    imgs = root / 'imgs'
    imgs.mkdir()
    for name in ('a.png', 'b.jpg', 'c.png'):
        cv2.imwrite(str(imgs / name), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    (imgs / 'notes.txt').write_text('not an image')  # not listed: only image extensions are
    video = root / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5.0, (W, H))
    assert writer.isOpened()
    for _ in range(3):
        writer.write(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    writer.release()
    return dict(root=root, config=cfg, checkpoint=ckpt, imgs=imgs, video=video)


@pytest.fixture(scope='module')
def inferencer(files):
    return DetInferencer(str(files['config']), str(files['checkpoint']), device='cpu', show_progress=False)


@pytest.fixture(scope='module')
def model(files):
    return init_detector(files['config'], str(files['checkpoint']), device='cpu')


def _expected(model, img) -> dict:
    pred = inference_detector(model, img).pred_instances
    return dict(labels=pred.labels.tolist(), scores=pred.scores.tolist(), bboxes=pred.bboxes.tolist())


def _assert_same(doc: dict, want: dict) -> None:
    assert doc['labels'] == want['labels'] and len(doc['labels']) == 10  # test_cfg: score_thr 0, 10 per image
    np.testing.assert_allclose(doc['scores'], want['scores'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(doc['bboxes'], want['bboxes'], rtol=1e-5, atol=1e-3)


def test_folder_writes_one_json_and_one_picture_per_image(files, inferencer, model, tmp_path):
    out = inferencer(str(files['imgs']), batch_size=2, out_dir=str(tmp_path), no_save_pred=False,
                     return_vis=True)
    assert len(out['predictions']) == 3 and len(out['visualization']) == 3
    assert sorted(p.name for p in (tmp_path / 'preds').iterdir()) == ['a.json', 'b.json', 'c.json']
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == ['a.png', 'b.jpg', 'c.png']
    for name, doc, drawn in zip(('a.png', 'b.jpg', 'c.png'), out['predictions'], out['visualization']):
        path = files['imgs'] / name
        written = json.loads((tmp_path / 'preds' / f'{path.stem}.json').read_text())
        assert written == doc and set(doc) == {'labels', 'scores', 'bboxes'}
        _assert_same(doc, _expected(model, str(path)))
        assert drawn.shape == (H, W, 3) and drawn.dtype == np.uint8  # the input's size, RGB
        assert cv2.imread(str(tmp_path / 'vis' / name)).shape == (H, W, 3)
    # MMDetection's defaults: no JSON unless asked, nothing at all without out_dir
    inferencer(str(files['imgs'] / 'a.png'), out_dir=str(tmp_path / 'default'))
    assert not (tmp_path / 'default' / 'preds').exists() and (tmp_path / 'default' / 'vis' / 'a.png').is_file()


def test_array_input_and_datasamples(files, inferencer, model, tmp_path):
    img = cv2.imread(str(files['imgs'] / 'b.jpg'))
    out = inferencer([img, img[::-1].copy()], out_dir=str(tmp_path), no_save_pred=False, return_datasamples=True)
    assert sorted(p.name for p in (tmp_path / 'preds').iterdir()) == ['00000000.json', '00000001.json']
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == ['00000000.jpg', '00000001.jpg']
    sample = out['predictions'][0]
    assert isinstance(sample, DataSample) and sample.metainfo['img_path'] is None
    _assert_same(json.loads((tmp_path / 'preds' / '00000000.json').read_text()), _expected(model, img))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines on stderr
        pass


@pytest.fixture(scope='module')
def server(files):
    """A loopback HTTP server on 127.0.0.1 serving the image folder."""
    handler = functools.partial(_QuietHandler, directory=str(files['imgs']))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def test_url_input_is_downloaded(files, inferencer, model, server, tmp_path):
    out = inferencer(f'{server}/a.png', out_dir=str(tmp_path), no_save_pred=False)
    _assert_same(out['predictions'][0], _expected(model, str(files['imgs'] / 'a.png')))
    assert (tmp_path / 'preds' / 'a.json').is_file() and (tmp_path / 'vis' / 'a.png').is_file()
    mixed = inferencer([f'{server}/c.png', str(files['imgs'] / 'c.png')])  # same name twice: both kept
    assert mixed['predictions'][0] == mixed['predictions'][1]
    with pytest.raises(ImageReadError, match=r'missing\.png.*HTTP 404') as exc:
        inferencer(f'{server}/missing.png')
    assert is_user_error(exc.value)
    with pytest.raises(ImageReadError, match=r'could not read image .*notes\.txt: the download is not a readable'):
        inferencer(f'{server}/notes.txt')


def test_video_input_writes_a_video_and_one_json(files, inferencer, model, tmp_path):
    out = inferencer(str(files['video']), batch_size=2, out_dir=str(tmp_path), no_save_pred=False)
    assert len(out['predictions']) == 3
    cap = cv2.VideoCapture(str(tmp_path / 'vis' / 'clip.avi'))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 3 and frames[0].shape == (H, W, 3)
    doc = json.loads((tmp_path / 'preds' / 'clip.json').read_text())
    assert [f['frame_id'] for f in doc] == [0, 1, 2]
    src = cv2.VideoCapture(str(files['video']))
    first = src.read()[1]
    src.release()
    _assert_same({k: doc[0][k] for k in ('labels', 'scores', 'bboxes')}, _expected(model, first))


def test_nothing_above_threshold_is_one_line_with_the_best_score(files, inferencer, model, caplog):
    best = float(inference_detector(model, str(files['imgs'] / 'a.png')).pred_instances.scores.max())
    with caplog.at_level(logging.WARNING, logger='visioncraft'):
        inferencer(str(files['imgs'] / 'a.png'), pred_score_thr=0.99)
    lines = [r.getMessage() for r in caplog.records if 'pred_score_thr' in r.getMessage()]
    assert lines == [f'DetInferencer: a.png: nothing scores >= pred_score_thr=0.99 (10 predictions); '
                     f'best score {best:.3g}']
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='visioncraft'):
        inferencer(str(files['imgs'] / 'a.png'), pred_score_thr=0.0)
    assert not [r for r in caplog.records if 'pred_score_thr' in r.getMessage()]


def test_show_without_display_warns_print_result_prints(files, inferencer, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.warns(UserWarning, match='no display'):
        inferencer(str(files['imgs'] / 'a.png'), show=True, print_result=True, out_dir=str(tmp_path))
    assert (tmp_path / 'vis' / 'a.png').is_file()
    printed = capsys.readouterr().out
    assert printed.startswith('a.png: {"labels": [')


@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')  # pycocotools' decode, numpy 2
def test_instance_segmentation_json_has_rle_masks(files, tmp_path):
    from pycocotools import mask as mask_util
    cfg, ckpt = _save_model(files['root'], 'tiny_mask_rcnn', tiny_mask_rcnn())
    img = str(files['imgs'] / 'a.png')
    want = inference_detector(init_detector(cfg, str(ckpt), device='cpu'), img).pred_instances
    assert len(want) > 0
    doc = DetInferencer(str(cfg), str(ckpt), device='cpu', show_progress=False)(img)['predictions'][0]
    assert len(doc['masks']) == len(doc['labels']) == len(want)
    assert all(isinstance(m['counts'], str) and m['size'] == [H, W] for m in doc['masks'])
    decoded = mask_util.decode([dict(m, counts=m['counts'].encode()) for m in doc['masks']])  # H x W x K
    np.testing.assert_array_equal(decoded.transpose(2, 0, 1).astype(bool), want.masks.numpy())


def test_clear_errors(files, inferencer, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inferencer(str(tmp_path / 'nope.png'))
    with pytest.raises(ValueError, match='batch_size must be >= 1'):
        inferencer(str(files['imgs']), batch_size=0)
    with pytest.raises(ValueError, match="palette='rainbow'"):
        DetInferencer(str(files['config']), str(files['checkpoint']), device='cpu', palette='rainbow')
    with pytest.raises(FileNotFoundError, match="model='no_such_model'"):
        DetInferencer('no_such_model', device='cpu')
    with pytest.raises(ValueError, match='no published weights in the model index'):
        DetInferencer('fcos_r50_fpn_1x_coco', device='cpu')  # a config name outside the index needs its checkpoint
    export = tmp_path / 'rec_export'
    export.mkdir()
    (export / 'inference.json').write_text(json.dumps(dict(task='textrecog', preprocess={}, postprocess={})))
    with pytest.raises(ValueError, match=r'rec_export is an exported textrecog model, not a detector') as exc:
        DetInferencer(str(export), device='cpu')
    assert is_user_error(exc.value)
    with pytest.raises(ValueError, match='an export holds its own weights'):
        DetInferencer(str(export), str(files['checkpoint']), device='cpu')
    with pytest.raises(FileNotFoundError, match='inference.json'):
        DetInferencer(str(files['imgs']), device='cpu')  # a folder, but no export


def test_palette_colours_each_class(files, inferencer):
    img = cv2.imread(str(files['imgs'] / 'a.png'))
    coloured = DetInferencer(str(files['config']), str(files['checkpoint']), device='cpu', palette='coco',
                             show_progress=False)
    sample = inference_detector(coloured.model, img)
    red = inferencer.visualize(img, sample, pred_score_thr=0.0)
    many = coloured.visualize(img, sample, pred_score_thr=0.0)
    assert red.shape == many.shape == (H, W, 3)
    colours = {tuple(c) for c in coloured.visualizer.class_colors[:3]}
    labels = set(sample.pred_instances.labels.tolist())
    for label in labels:  # every predicted class's colour is in the drawing
        assert (many == np.array(coloured.visualizer.class_colors[label], np.uint8)).all(-1).any()
    assert len(colours) == 3


def test_exported_detector_directory_as_model(files, tmp_path):
    """A directory written by `visioncraft export` runs through the same inferencer (and gives the checkpoint's
    predictions); its classes come from the export."""
    from visioncraft.export import export_model
    model_cfg = tiny_retinanet(backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(16, 24, 32, 48),
                                             depths=(1, 1, 1, 1), out_indices=(1, 2, 3)),
                               neck=dict(type='FPN', out_channels=32, num_outs=5, add_extra_convs='on_input'))
    cfg, ckpt = _save_model(tmp_path, 'tiny_export', model_cfg)
    state = torch.load(ckpt, weights_only=True)
    gen = torch.Generator().manual_seed(1)  # sharper, varied class scores: no near-ties to reorder
    state['state_dict']['bbox_head.retina_cls.weight'] *= 60
    state['state_dict']['bbox_head.retina_cls.bias'].normal_(-3.0, 1.0, generator=gen)
    torch.save(state, ckpt)
    export_model(str(cfg), str(ckpt), tmp_path / 'inference', formats=('torchscript',))
    img = str(files['imgs'] / 'a.png')
    exported = DetInferencer(str(tmp_path / 'inference'), device='cpu', show_progress=False, backend='torchscript')
    assert exported.model is None and list(exported.dataset_meta['classes']) == ['a', 'b', 'c']
    got = exported(img, out_dir=str(tmp_path / 'out'), no_save_pred=False)['predictions'][0]
    want = DetInferencer(str(cfg), str(ckpt), device='cpu', show_progress=False)(img)['predictions'][0]
    assert got['labels'] == want['labels'] and len(set(np.round(want['scores'], 3))) > 5
    np.testing.assert_allclose(got['scores'], want['scores'], atol=1e-4)
    np.testing.assert_allclose(got['bboxes'], want['bboxes'], atol=1e-3)
    assert json.loads((tmp_path / 'out' / 'preds' / 'a.json').read_text()) == got


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize('terminal', [False, True])
def test_progress_bar_only_on_a_terminal(files, monkeypatch, terminal):
    """Written to a file or a pipe, a bar's refreshes are lines of their own (and '100%' came twice); there it is
    left out. On a terminal it is drawn, and ends at 100 %."""
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, 'stderr', stream)
    inferencer = DetInferencer(str(files['config']), str(files['checkpoint']), device='cpu', show_progress=True)
    inferencer(str(files['imgs']), no_save_vis=True)
    out = stream.getvalue()
    if terminal:
        assert '100%' in out and '3/3' in out
    else:
        assert '%|' not in out and '3/3' not in out
