"""Real models behind the HTTP API: the MODEL argument's syntax, and every task served (detection with the
quickstart config and a checkpoint of seeded weights, pose alone and with a person detector, OCR as a text detector +
recogniser pair, text detection and recognition alone), each answering exactly the JSON its inferencer writes to
disk for the same picture; clear errors for arguments that name nothing servable."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from serve_testing import (DET_SHAPES, POSE_SYNTH, SHAPE_CLASSES, det_shapes_checkpoint, encode, pose_checkpoint,
                           shapes_picture, text_model_files, text_picture)
from visioncraft.errors import is_user_error
from visioncraft.serve.app import create_app
from visioncraft.serve.models import ModelPart, load_served_model, parse_model_spec, part_task


# -- the MODEL argument ----------------------------------------------------------------------------------------
@pytest.mark.parametrize('text,name,parts', [
    ('configs/a.py,w.pth', 'a', [('configs/a.py', 'w.pth')]),
    ('det=configs/a.py,w.pth', 'det', [('configs/a.py', 'w.pth')]),
    ('exports/retina_v2', 'retina_v2', [('exports/retina_v2', None)]),
    ('exports/retina_v2/', 'retina_v2', [('exports/retina_v2/', None)]),
    ('ocr=d.py,d.pth+r.py,r.pth', 'ocr', [('d.py', 'd.pth'), ('r.py', 'r.pth')]),
    ('pose=human,p.pth+det_dir', 'pose', [('human', 'p.pth'), ('det_dir', None)]),
    ('retinanet , w.pth', 'retinanet', [('retinanet', 'w.pth')]),
    ('my model.py,w', 'my-model', [('my model.py', 'w')]),
])
def test_model_argument_syntax(text, name, parts):
    spec = parse_model_spec(text)
    assert spec.name == name and spec.text == text
    assert [(p.source, p.weights) for p in spec.parts] == parts


@pytest.mark.parametrize('text,match', [
    ('', 'empty'),
    ('a.py,w+b.py,w+c.py,w', 'at most two'),
    ('x=+b.py', 'no config file'),
    ('a.py,w,extra', 'more than one ","'),
    ('bad name!=a.py', 'the name'),
])
def test_malformed_model_arguments_are_user_errors(text, match):
    with pytest.raises(ValueError, match=match) as exc:
        parse_model_spec(text)
    assert is_user_error(exc.value) and repr(text) in str(exc.value)


def test_what_a_part_is(tmp_path):
    assert part_task(ModelPart(str(DET_SHAPES), 'w.pth')) == ('detection', 'config')
    assert part_task(ModelPart(str(POSE_SYNTH))) == ('pose', 'config')
    assert part_task(ModelPart('det_shapes', 'w.pth')) == ('detection', 'alias')
    assert part_task(ModelPart('human', 'w.pth')) == ('pose', 'alias')
    export = tmp_path / 'export'
    export.mkdir()
    (export / 'inference.json').write_text(json.dumps(dict(task='textrecog', preprocess={}, postprocess={})))
    assert part_task(ModelPart(str(export))) == ('textrecog', 'exported')
    for part, match in ((ModelPart(str(export), 'w.pth'), 'holds its own weights'),
                        (ModelPart(str(tmp_path / 'missing.py')), 'no such config file'),
                        (ModelPart(str(tmp_path)), 'inference.json')):
        with pytest.raises((ValueError, FileNotFoundError), match=match) as exc:
            part_task(part)
        assert is_user_error(exc.value)
    (export / 'inference.json').write_text(json.dumps(dict(task='classification', preprocess={}, postprocess={})))
    with pytest.raises(ValueError, match="exported 'classification' model"):
        part_task(ModelPart(str(export)))
    (tmp_path / 'engine.py').write_text("model = dict(type='TinyClassifier', num_classes=4)\n")
    with pytest.raises(ValueError, match='cannot tell what task'):
        part_task(ModelPart(str(tmp_path / 'engine.py'), 'w.pth'))


# -- every task, as its inferencer writes it ---------------------------------------------------------------------
@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('serve_models')
    out = text_model_files(root)
    out['det_ckpt_shapes'] = det_shapes_checkpoint(root / 'det_shapes.pth')
    out['pose_ckpt'] = pose_checkpoint(root / 'pose.pth')
    out['root'] = root
    for name, img in (('shapes.png', shapes_picture()), ('text.png', text_picture())):
        cv2.imwrite(str(root / name), img)
        out[name] = root / name
    return out


def _post(client, name, path):
    r = client.post(f'/v1/models/{name}/predict', files={'file': (path.name, path.read_bytes(), 'image/png')})
    assert r.status_code == 200, r.text
    return r.json()


def test_detection_quickstart_answers_boxes_as_det_inferencer_writes_them(files):
    from visioncraft.apis import DetInferencer
    model = load_served_model(f'det={DET_SHAPES},{files["det_ckpt_shapes"]}', device='cpu')
    assert (model.name, model.task, model.classes) == ('det', 'detection', SHAPE_CLASSES)
    with TestClient(create_app([model])) as c:
        assert c.get('/v1/models').json()['models'][0]['classes'] == SHAPE_CLASSES
        doc = _post(c, 'det', files['shapes.png'])
    assert len(doc['labels']) == len(doc['scores']) == len(doc['bboxes']) > 0
    h, w = shapes_picture().shape[:2]
    assert all(0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h for x1, y1, x2, y2 in doc['bboxes'])
    out = files['root'] / 'det_out'
    DetInferencer(str(DET_SHAPES), str(files['det_ckpt_shapes']), device='cpu', show_progress=False)(
        str(files['shapes.png']), out_dir=str(out), no_save_pred=False, no_save_vis=True)
    assert doc == json.loads((out / 'preds' / 'shapes.json').read_text())


def test_pose_alone_and_with_a_person_detector(files):
    from visioncraft.apis import PoseInferencer
    alone = load_served_model(f'{POSE_SYNTH},{files["pose_ckpt"]}', device='cpu')
    paired = load_served_model(f'people={POSE_SYNTH},{files["pose_ckpt"]}+{DET_SHAPES},{files["det_ckpt_shapes"]}',
                               device='cpu')
    assert (alone.name, alone.task, paired.task) == ('pose_synth', 'pose', 'pose')
    with TestClient(create_app([alone, paired])) as c:
        info = {m['name']: m for m in c.get('/v1/models').json()['models']}
        one = _post(c, 'pose_synth', files['shapes.png'])
        many = _post(c, 'people', files['shapes.png'])
    assert len(info['pose_synth']['keypoints']) == 17 and info['pose_synth']['keypoints'][0] == 'nose'
    assert [15, 13] in info['pose_synth']['skeleton']
    assert len(one) == 1 and len(one[0]['keypoints']) == 17  # no detector: the whole picture is the person
    assert len(many) >= 1 and all(len(p['keypoints']) == 17 for p in many)
    out = files['root'] / 'pose_out'
    list(PoseInferencer(str(POSE_SYNTH), str(files['pose_ckpt']), device='cpu')(str(files['shapes.png']),
                                                                                out_dir=str(out)))
    assert one == json.loads((out / 'predictions' / 'shapes.json').read_text())


def test_ocr_pair_and_text_models_alone(files):
    from visioncraft.apis import OCRInferencer
    det, rec = f'{files["det_cfg"]},{files["det_ckpt"]}', f'{files["rec_cfg"]},{files["rec_ckpt"]}'
    ocr = load_served_model(f'ocr={rec}+{det}', device='cpu')  # either order
    textdet = load_served_model(f'textdet={det}', device='cpu')
    textrecog = load_served_model(f'textrecog={rec}', device='cpu')
    assert (ocr.task, textdet.task, textrecog.task) == ('ocr', 'textdet', 'textrecog')
    word = files['root'] / 'word.png'
    cv2.imwrite(str(word), text_picture(('serve',))[10:50, :110])
    with TestClient(create_app([ocr, textdet, textrecog])) as c:
        doc = _post(c, 'ocr', files['text.png'])
        regions = _post(c, 'textdet', files['text.png'])
        read = _post(c, 'textrecog', word)
    out = files['root'] / 'ocr_out'
    OCRInferencer(str(files['det_cfg']), str(files['rec_cfg']), det_weights=str(files['det_ckpt']),
                  rec_weights=str(files['rec_ckpt']), device='cpu')(str(files['text.png']), out_dir=str(out))
    assert doc == dict(json.loads((out / 'text.json').read_text()), img_path=None)  # no file behind an upload
    assert (doc['height'], doc['width']) == (128, 192) and doc['results'], 'the tiny detector found no text'
    assert regions == dict(doc, results=[{k: r[k] for k in ('polygon', 'det_score')} for r in doc['results']])
    assert set(read) == {'text', 'rec_score'} and isinstance(read['text'], str)


def test_exported_directories_are_served_as_their_inferencers_run_them(files):
    """A detector and a recogniser written by `visioncraft export` (ONNX Runtime): the detector answers what
    DetInferencer writes for the export, the recogniser what the export's predictor reads."""
    from visioncraft.apis import DetInferencer
    from visioncraft.export import export_model
    from visioncraft.export.predictor import load_predictor
    det_dir, rec_dir = files['root'] / 'det_export', files['root'] / 'rec_export'
    export_model(str(DET_SHAPES), str(files['det_ckpt_shapes']), det_dir, formats=('onnx',))
    export_model(str(files['rec_cfg']), str(files['rec_ckpt']), rec_dir, formats=('onnx',))
    det, rec = load_served_model(str(det_dir), device='cpu'), load_served_model(f'reader={rec_dir}', device='cpu')
    assert (det.name, det.task, det.classes, rec.task) == ('det_export', 'detection', SHAPE_CLASSES, 'textrecog')
    word = text_picture(('serve',))[10:50, :110]
    with TestClient(create_app([det, rec])) as c:
        doc = _post(c, 'det_export', files['shapes.png'])
        read = c.post('/v1/models/reader/predict', content=encode(word), headers={'Content-Type': 'image/png'}).json()
    out = files['root'] / 'det_export_out'
    DetInferencer(str(det_dir), device='cpu', show_progress=False)(str(files['shapes.png']), out_dir=str(out),
                                                                     no_save_pred=False, no_save_vis=True)
    assert doc == json.loads((out / 'preds' / 'shapes.json').read_text()) and doc['bboxes']
    ((text, score, _),) = load_predictor(rec_dir, device='cpu').predict([word])
    assert read == {'text': text, 'rec_score': float(score)}


def test_a_work_dirs_last_checkpoint_stands_for_its_checkpoint(files):
    from visioncraft.fileio.checkpoint import write_last_checkpoint
    work_dir = files['root'] / 'work_dir'
    work_dir.mkdir(exist_ok=True)
    write_last_checkpoint(work_dir, files['det_ckpt_shapes'])
    img = shapes_picture()
    want = load_served_model(f'{DET_SHAPES},{files["det_ckpt_shapes"]}', device='cpu').predict([img])
    for weights in (work_dir / 'last_checkpoint', work_dir / 'latest.pth'):
        assert load_served_model(f'{DET_SHAPES},{weights}', device='cpu').predict([img]) == want


@pytest.mark.parametrize('make,match', [
    (lambda f: f'{DET_SHAPES},{f["det_ckpt_shapes"]}+{DET_SHAPES},{f["det_ckpt_shapes"]}',
     'detection pair cannot be served'),
    (lambda f: f'{f["det_cfg"]},{f["det_ckpt"]}+{DET_SHAPES},{f["det_ckpt_shapes"]}', 'textdet \\+ detection pair'),
    (lambda f: 'det_shapes', 'det_shapes is a model alias: give its checkpoint as det_shapes,CHECKPOINT'),
    (lambda f: f'{f["det_cfg"]}', 'is a textdet config: give its checkpoint'),
    (lambda f: f'{f["rec_cfg"]},{f["root"] / "missing.pth"}', 'checkpoint file not found'),
    (lambda f: f'{f["root"] / "nothing.py"},w.pth', 'no such config file'),
    (lambda f: f'{f["shapes.png"]},w.pth', 'expected a config file'),
])
def test_unservable_models_are_user_errors(files, make, match):
    with pytest.raises(Exception, match=match) as exc:
        load_served_model(make(files), device='cpu')
    assert is_user_error(exc.value), repr(exc.value)


def test_a_jpeg_upload_of_a_real_model(files):
    """The decoded upload is what the model sees: a JPEG sent raw gives the document of the same decoded array."""
    model = load_served_model(f'{DET_SHAPES},{files["det_ckpt_shapes"]}', device='cpu')
    jpg = encode(shapes_picture(), '.jpg')
    with TestClient(create_app([model])) as c:
        r = c.post('/v1/models/det_shapes/predict', content=jpg, headers={'Content-Type': 'image/jpeg'})
    assert r.status_code == 200 and r.headers['x-image-size'] == '160x128'
    assert r.json() == model.predict([cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)])[0]
