"""The synthetic scene-text generator: determinism, caching, label formats, quad geometry."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from visioncraft.data.synthetic.text import (IGNORE_TEXT, WORDS, available_fonts, generate_text_det,
                                             render_text_image)

SMALL = dict(num_train=5, num_val=2, size=(96, 128), seed=3, ignore_ratio=0.3)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _parse_gt(path):
    out = []
    for line in path.read_text(encoding='utf-8').splitlines():
        parts = line.split(',')
        assert len(parts) == 9, line
        out.append(([int(v) for v in parts[:8]], parts[8]))
    return out


def _signed_area(poly):
    x, y = np.asarray(poly, float)[0::2], np.asarray(poly, float)[1::2]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_same_settings_same_bytes_and_regenerated_on_change(tmp_path):
    a, b = generate_text_det(tmp_path / 'a', **SMALL), generate_text_det(tmp_path / 'b', **SMALL)
    fa = _files(a)
    assert fa == _files(b)
    assert len([k for k in fa if k.endswith('.jpg')]) == 7
    mtime = (a / 'imgs/train/img_1.jpg').stat().st_mtime_ns
    generate_text_det(a, **SMALL)  # same settings: reused, not rewritten
    assert (a / 'imgs/train/img_1.jpg').stat().st_mtime_ns == mtime
    generate_text_det(a, **{**SMALL, 'seed': 4})  # other settings: regenerated
    fc = _files(a)
    assert fc['imgs/train/img_1.jpg'] != fa['imgs/train/img_1.jpg']
    assert json.loads(fc['textdet_train.json'])['metainfo']['generated_with']['seed'] == 4
    generate_text_det(a, **{**SMALL, 'num_train': 6})
    assert (a / 'imgs/train/img_6.jpg').is_file() and (a / 'annotations/train/gt_img_6.txt').is_file()


def test_labels_parse_back_and_formats_agree(tmp_path):
    root = generate_text_det(tmp_path / 'd', **SMALL)
    height, width = SMALL['size']
    words = {w.lower() for w in WORDS}
    n_ignored = n_words = 0
    for split, n in (('train', 5), ('val', 2)):
        js = json.loads((root / f'textdet_{split}.json').read_text())
        assert js['metainfo']['task_name'] == 'textdet' and len(js['data_list']) == n
        paddle = (root / f'{split}_label.txt').read_text(encoding='utf-8').splitlines()
        assert len(paddle) == n
        for i, (entry, pline) in enumerate(zip(js['data_list'], paddle), 1):
            assert entry['img_path'] == f'imgs/{split}/img_{i}.jpg'
            img = cv2.imread(str(root / entry['img_path']))
            assert img.shape == (height, width, 3) and (entry['height'], entry['width']) == (height, width)
            gt = _parse_gt(root / f'annotations/{split}/gt_img_{i}.txt')
            assert len(gt) == len(entry['instances']) >= 1
            ppath, pjson = pline.split('\t')
            assert ppath == entry['img_path']
            for (poly, text), inst, pinst in zip(gt, entry['instances'], json.loads(pjson)):
                assert inst['polygon'] == poly and inst['text'] == text == pinst['transcription']
                assert [v for pt in pinst['points'] for v in pt] == poly
                assert inst['ignore'] == (text == IGNORE_TEXT) and inst['bbox_label'] == 0
                assert inst['bbox'] == [min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2])]
                assert text == IGNORE_TEXT or text.lower() in words
                # inside the image, clockwise (positive shoelace area with y down) from the top-left
                assert 0 <= min(poly[0::2]) and max(poly[0::2]) <= width - 1
                assert 0 <= min(poly[1::2]) and max(poly[1::2]) <= height - 1
                assert _signed_area(poly) > 0
                n_ignored += inst['ignore']
                n_words += 1
    assert 0 < n_ignored < n_words


def test_ink_lies_inside_tight_quads_that_never_overlap():
    fonts = available_fonts()
    for s in range(6):
        rng = np.random.default_rng([7, s])
        img, instances = render_text_image(rng, (160, 200), fonts, ignore_ratio=0.2, return_masks=True)
        assert img.dtype == np.uint8 and img.shape == (160, 200, 3) and instances
        rasters = []
        for inst in instances:
            quad = inst['polygon'].reshape(4, 2).astype(np.float32)
            # every pixel the word covers lies inside its quad (faint anti-aliased rims: within 1 px)
            for threshold, tolerance in ((128, 0.0), (1, 1.0)):
                ys, xs = np.nonzero(inst['mask'] >= threshold)
                assert len(xs) > 0
                dist = np.array([cv2.pointPolygonTest(quad, (float(x), float(y)), True) for x, y in zip(xs, ys)])
                assert dist.min() >= -tolerance, f'ink {-dist.min():.2f} px outside the quad of {inst["text"]}'
            # tight: every side of the quad has ink within 1 px (the quad is the warped ink box)
            pts = np.stack([xs, ys], 1).astype(float)
            for k in range(4):
                p, q = quad[k].astype(float), quad[(k + 1) % 4].astype(float)
                v, w = q - p, pts - p
                d = np.abs(v[0] * w[:, 1] - v[1] * w[:, 0]) / np.linalg.norm(v)
                assert d.min() <= 1.0, f'side {k} of {inst["text"]} is {d.min():.2f} px from the ink'
            r = np.zeros((160, 200), np.uint8)
            cv2.fillPoly(r, [np.round(quad).astype(np.int32)], 1)
            rasters.append(r)
        total = np.sum(rasters, 0)
        assert total.max() <= 1  # no two quads share a pixel
        # the picture shows the legible words: their full-coverage pixels stand out from the pixels around them
        for inst, r in zip(instances, rasters):
            if inst['ignore'] or not (inst['mask'] == 255).any():
                continue
            ring = (cv2.dilate(r, np.ones((7, 7), np.uint8)) > 0) & (r == 0)
            ink = img[inst['mask'] == 255].astype(float).mean(0)
            assert np.abs(ink - img[ring].astype(float).mean(0)).sum() > 60, inst['text']


def test_default_font_only_and_bad_arguments(tmp_path):
    assert available_fonts('default') == ['pillow-default']
    root = generate_text_det(tmp_path / 'f', num_train=1, num_val=1, size=(64, 64), fonts='default')
    meta = json.loads((root / 'textdet_train.json').read_text())['metainfo']['generated_with']
    assert meta['fonts'] == ['pillow-default'] and meta['size'] == [64, 64]
    with pytest.raises(ValueError, match='fonts'):
        generate_text_det(tmp_path / 'g', fonts='comic')
    with pytest.raises(ValueError, match='size'):
        generate_text_det(tmp_path / 'g', size=(16, 200))
    with pytest.raises(ValueError, match='ignore_ratio'):
        generate_text_det(tmp_path / 'g', ignore_ratio=2)
