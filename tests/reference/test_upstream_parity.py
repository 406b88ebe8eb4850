"""Parity with the real MMDetection 3.3.0 / MMPose 1.3.2 code: our model, built from our config of the same name,
with the same stand-in weights (reference_weights.py: a function of the parameter names and shapes) gives the
outputs the upstream model gave on the same input (tests/data/reference/upstream/*.pth, made by make_reference.py
in a venv with the upstream packages; no upstream package is needed here).

Checked per model: the state dict has the upstream's parameter names and shapes (so upstream checkpoints load as
they are), and the outputs match: boxes within 1e-3 px and scores within 1e-4, masks IoU > 0.99, losses within
1e-4 (relative), backbone + neck features within 1e-4, heatmaps / SimCC logits within 1e-5 (relative to their
scale), decoded keypoints within 1e-3 px.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from visioncraft.config import Config
from visioncraft.fileio.checkpoint import load_model_weights
from visioncraft.fileio.package_data import find_package_file
from visioncraft.model_index import get_model
from visioncraft.registry import MODELS, import_builtin_modules
from visioncraft.structures import DataSample, InstanceData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_weights import reference_state, strip_pretrained  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REF_DIR = REPO / 'tests' / 'data' / 'reference' / 'upstream'
REFS = sorted(REF_DIR.glob('*.pth'))


def test_references_exist():
    assert len(REFS) >= 4, f'the upstream references are missing from {REF_DIR}'




def _our_config_path(name: str) -> str:
    """Our config of the upstream name: the model index's, else the file of that name under configs/."""
    try:
        return str(find_package_file(get_model(name).config))
    except Exception:
        found = sorted((REPO / 'configs').glob(f'**/{name}.py'))
        assert found, f'no config named {name}.py under configs/'
        return str(found[0])


def _our_model(ref: dict):
    import_builtin_modules()
    cfg = Config.fromfile(_our_config_path(ref['name']))
    cfg.merge_from_dict(dict(ref['overrides']))
    strip_pretrained(cfg.model)
    model = MODELS.build(cfg.model)
    # the upstream's state dict (its names, the stand-in values) loads as a user's checkpoint does: through our
    # loader, which renames upstream names (fileio/upstream); every weight must find its place
    state = reference_state(ref['seed'], [(k, tuple(s)) for k, s in ref['params']], set(ref['norm_names']))
    own = model.state_dict()  # tensors the reference kept as built (constants from the config): ours, as built
    state.update({k: own[k].numpy() for k in ref.get('built', ())})
    state.update({k: v.numpy() for k, v in ref.get('stored', {}).items()})  # values the reference chose and keeps
    report = load_model_weights(model, {k: torch.from_numpy(v) for k, v in state.items()}, source=ref['name'])
    missing = [k for k in report.missing if not k.endswith('num_batches_tracked')]
    assert not missing and not report.unexpected and not report.mismatched, \
        f'{ref["name"]}: the upstream state dict does not load cleanly: {len(missing)} of ours missing ' \
        f'{missing[:6]}, {len(report.unexpected)} upstream unused {report.unexpected[:6]}, ' \
        f'{len(report.mismatched)} of another shape {report.mismatched[:3]}'
    return model.eval(), cfg


def _match_boxes(ref_out: dict, pred: InstanceData, name: str) -> None:
    rb, rs, rl = ref_out['bboxes'], ref_out['scores'], ref_out['labels']
    assert len(pred) == len(rb), f'{name}: {len(pred)} detections, upstream {len(rb)}'
    ours = torch.argsort(pred.scores, descending=True, stable=True)
    theirs = torch.argsort(rs, descending=True, stable=True)
    assert torch.allclose(pred.scores[ours], rs[theirs], atol=1e-4, rtol=0), f'{name}: scores differ'
    used = set()
    for i in theirs.tolist():
        # the upstream detection i is ours with the same label, score within 1e-4 and the closest box
        cand = [j for j in range(len(pred)) if j not in used and int(pred.labels[j]) == int(rl[i])
                and abs(float(pred.scores[j]) - float(rs[i])) <= 1e-4]
        assert cand, f'{name}: no detection of ours matches upstream {i} (label {int(rl[i])}, score {float(rs[i])})'
        j = min(cand, key=lambda c: float((pred.bboxes[c] - rb[i]).abs().max()))
        err = float((pred.bboxes[j] - rb[i]).abs().max())
        assert err <= 1e-3, f'{name}: box of upstream detection {i} differs by {err} px'
        used.add(j)
        if 'masks' in ref_out:
            a, b = pred.masks[j].bool(), ref_out['masks'][i].bool()
            union = (a | b).sum().item()
            iou = (a & b).sum().item() / union if union else 1.0
            assert iou > 0.99, f'{name}: mask of upstream detection {i}: IoU {iou:.4f}'


def _one_thread(check):
    """``check`` run on one thread, as make_reference.py ran the upstream models: the convolutions' summation
    order depends on the thread count, and the stand-in weights turn those 1e-7 relative differences into
    ~1e-3 px in the R-CNN boxes and ~1e-2 in HRNet's (1e5-sized) heatmap maxima."""
    def run(ref: dict) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            check(ref)
        finally:
            torch.set_num_threads(threads)
    return run


@_one_thread
def _check_det(ref: dict) -> None:
    model, _ = _our_model(ref)
    meta = dict(ref['metainfo'])
    out = ref['outputs']
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[ref['inputs']], data_samples=[DataSample(metainfo=meta)]), False)
        feats = model.extract_feat(data['inputs'])
        means = torch.stack([f.mean() for f in feats])
        abs_means = torch.stack([f.abs().mean() for f in feats])
        assert torch.allclose(abs_means, out['feat_abs_means'], rtol=1e-4, atol=1e-6), ref['name']
        assert torch.allclose(means, out['feat_means'], rtol=1e-4, atol=1e-5), ref['name']
        assert torch.allclose(feats[0][0, :8, :8, :8], out['feat0_patch'], rtol=1e-4, atol=1e-4), ref['name']
        (pred,) = model.test_step(dict(inputs=[ref['inputs']], data_samples=[DataSample(metainfo=meta)]))
    _match_boxes(out, pred.pred_instances, ref['name'])
    if 'losses' in out:
        model.train()
        sample = DataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=ref['gt']['bboxes'], labels=ref['gt']['labels'])
        data = model.data_preprocessor(dict(inputs=[ref['inputs']], data_samples=[sample]), True)
        losses = model(**data, mode='loss')
        for key, want in out['losses'].items():
            assert key in losses, f'{ref["name"]}: no {key} among our losses {sorted(losses)}'
            got = losses[key]
            got = sum(got) if isinstance(got, (list, tuple)) else got
            assert torch.allclose(got.detach().float(), want, rtol=1e-4, atol=1e-6), \
                f'{ref["name"]}: {key} {float(got)} vs upstream {float(want)}'


@_one_thread
def _check_pose(ref: dict) -> None:
    model, _ = _our_model(ref)
    meta = {k: (np.asarray(v, np.float32) if k in ('input_center', 'input_scale') else v)
            for k, v in ref['metainfo'].items()}
    meta['input_size'] = tuple(meta['input_size'])
    out = ref['outputs']
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[ref['inputs']], data_samples=[DataSample(metainfo=meta)]), False)
        raw = model(data['inputs'], None, mode='tensor')
        if 'heatmaps' in out:
            scale = out['heatmaps'].abs().max()
            assert torch.allclose(raw, out['heatmaps'], atol=1e-5 * scale, rtol=0), ref['name']
        else:
            for got, key in zip(raw, ('simcc_x', 'simcc_y')):
                scale = out[key].abs().max()
                assert torch.allclose(got, out[key], atol=1e-5 * scale, rtol=0), f'{ref["name"]}: {key}'
        (pred,) = model.test_step(dict(inputs=[ref['inputs']], data_samples=[DataSample(metainfo=meta)]))
    kpts = torch.as_tensor(np.asarray(pred.pred_instances.keypoints), dtype=torch.float32)
    scores = torch.as_tensor(np.asarray(pred.pred_instances.keypoint_scores), dtype=torch.float32)
    err = (kpts - out['keypoints']).abs().max().item()
    tol = ref.get('keypoint_tol', 1e-3)  # larger only where the upstream's own float noise is (make_reference.py)
    assert err <= tol, f'{ref["name"]}: keypoints differ by {err} px'
    assert torch.allclose(scores, out['keypoint_scores'], atol=1e-4, rtol=0), ref['name']


def _check_ocr(ref: dict) -> None:
    model, _ = _our_model(ref)
    meta = dict(ref['metainfo'])
    out = ref['outputs']
    name = ref['name']
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[ref['inputs']], data_samples=[DataSample(metainfo=meta)]), False)
        raw = model(data['inputs'], data['data_samples'], mode='tensor')
        (pred,) = model.test_step(dict(inputs=[ref['inputs']], data_samples=[DataSample(metainfo=meta)]))
    if 'prob_map' in out:  # text detection: DB probability map, then the decoded polygons
        assert raw.shape == out['prob_map'].shape, f'{name}: prob map {tuple(raw.shape)} vs {tuple(out["prob_map"].shape)}'
        err = (raw - out['prob_map']).abs().max().item()
        assert err <= 1e-5, f'{name}: probability maps differ by {err}'
        polys = [torch.as_tensor(np.asarray(p, np.float32)).reshape(-1) for p in pred.pred_instances.polygons]
        assert len(polys) == len(out['polygons']), f'{name}: {len(polys)} polygons, upstream {len(out["polygons"])}'
        for got, want in zip(polys, out['polygons']):
            assert got.shape == want.reshape(-1).shape and torch.allclose(got, want.reshape(-1), atol=1e-2), name
        scores = torch.as_tensor(np.asarray(pred.pred_instances.scores, np.float32))
        assert torch.allclose(scores, out['scores'], atol=1e-4), name
    else:  # text recognition: per-step class probabilities, then the decoded string
        assert raw.shape == out['probs'].shape, f'{name}: {tuple(raw.shape)} vs upstream {tuple(out["probs"].shape)}'
        err = (raw - out['probs']).abs().max().item()
        assert err <= 1e-4, f'{name}: probabilities differ by {err}'
        assert pred.pred_text == out['text'], f'{name}: {pred.pred_text!r} vs upstream {out["text"]!r}'


@pytest.mark.parametrize('path', REFS, ids=lambda p: p.stem)
def test_upstream_parity(path):
    ref = torch.load(path, weights_only=True)
    {'mmdet': _check_det, 'mmpose': _check_pose, 'mmocr': _check_ocr}[ref['toolbox']](ref)
