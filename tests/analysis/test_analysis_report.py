"""`visioncraft report WORK_DIR`: one self-contained HTML file with the curves, the final and best metrics, the
config and sample pictures (those of the work dir, else the last checkpoint's predictions)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, read_scalars
from visioncraft.analysis.report import ReportError, build_report
from visioncraft.cli.main import main as vc_main

from .conftest import handwritten_rows, write_scalars


def src_values(page: str) -> list[str]:
    return re.findall(r'\bsrc\s*=\s*["\']([^"\']*)', page)


def assert_self_contained(page: str) -> None:
    assert not re.search(r'\b(?:src|href)\s*=\s*["\']\s*(?:https?:)?//', page), 'an external URL in the page'
    assert all(s.startswith('data:image/') for s in src_values(page))
    assert '<link' not in page and '@import' not in page


def snapshot(path) -> dict[str, float]:
    return {str(p.relative_to(path)): p.stat().st_mtime for p in path.rglob('*')}


def test_report_of_a_tiny_run_draws_predictions(tiny_det_run, tmp_path):
    before = snapshot(tiny_det_run)
    out = build_report(tiny_det_run, tmp_path / 'report.html', num_samples=2, device='cpu')
    assert out == tmp_path / 'report.html' and list(tmp_path.iterdir()) == [out]
    assert snapshot(tiny_det_run) == before  # nothing written into the work dir
    page = out.read_text()
    assert_self_contained(page)
    assert page.count('<img ') == 2 and 'Predictions of epoch_2.pth on the first 2 validation image(s)' in page
    assert page.count('<svg') >= 3 and 'Losses' in page and 'Learning rate' in page and 'Validation metrics' in page
    assert str((tiny_det_run / 'det_shapes.py').resolve()) in page and 'epoch_2.pth' in page
    # the final validation metrics, as the table prints them, and every logged loss in the curves' data
    rows = read_scalars(tiny_det_run)
    final = [r for r in rows if 'coco/bbox_mAP' in r][-1]
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'):
        v = final[key]
        shown = f'{v:.4f}' if not float(v).is_integer() else str(int(v))
        assert re.search(rf'<tr><td>{re.escape(key)}</td><td>{re.escape(shown)}</td>', page), key
    losses = ' '.join(repr(float(r['loss'])) for r in rows if 'loss' in r)
    assert f'data-y="{losses}"' in page
    for src in src_values(page):  # the pictures decode
        import base64
        data = base64.b64decode(src.split(',', 1)[1])
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None


def test_report_uses_the_pictures_of_the_work_dir(tiny_det_run, tmp_path):
    wd = tmp_path / 'copy'
    shutil.copytree(tiny_det_run, wd)
    run = next(p for p in wd.iterdir() if p.is_dir() and (p / 'vis_data').is_dir())
    (run / 'vis').mkdir()
    for name, colour in (('b.png', (0, 0, 255)), ('a.png', (255, 0, 0)), ('c.jpg', (0, 255, 0))):
        cv2.imwrite(str(run / 'vis' / name), np.full((40, 60, 3), colour, np.uint8))
    (run / 'metrics.json').write_text(json.dumps({'coco/bbox_mAP': 0.123456, 'coco/bbox_mAP_50': 0.5}))
    out = vc_main(['report', str(wd), '--num-samples', '2', '--device', 'cpu'])  # the command, in-process
    assert out == wd / 'report.html'
    page = out.read_text()
    assert_self_contained(page)
    assert page.count('<img ') == 2 and f'{run.name}/vis/a.png' in page and f'{run.name}/vis/b.png' in page
    assert 'c.jpg' not in page and 'Pictures already in the work dir' in page
    assert '<h2>Test metrics</h2>' in page and '<td>coco/bbox_mAP</td><td>0.1235</td>' in page


def test_final_and_best_metrics(handwritten_run, tmp_path):
    out = build_report(handwritten_run, tmp_path / 'r.html', num_samples=0)
    page = out.read_text()
    # mAP 0.25 then 0.5: best = final = 0.5 at epoch 2; NME (lower is better) 0.3 then 0.2
    assert '<tr><td>coco/bbox_mAP</td><td>0.5000</td><td>0.5000</td><td>epoch 2</td></tr>' in page
    assert '<tr><td>pose/NME (lower is better)</td><td>0.2000</td><td>0.2000</td><td>epoch 2</td></tr>' in page
    assert '<img' not in page and '(no config dump found)' in page and 'Trained</td><td>6 iterations, epoch 2' in page
    # a third epoch, in a later (resumed) run, falls back: final and best differ
    later = [dict(r, iter=r['iter'] + 6, step=r['step'] + 6, epoch=3) for r in handwritten_rows() if 'iter' in r]
    write_scalars(handwritten_run, later[:3] + [{'coco/bbox_mAP': 0.4, 'pose/NME': 0.25, 'step': 3}],
                  stamp='20260102_000000')
    page = build_report(handwritten_run, tmp_path / 'r2.html', num_samples=0).read_text()
    assert '<tr><td>coco/bbox_mAP</td><td>0.4000</td><td>0.5000</td><td>epoch 2</td></tr>' in page
    assert '<tr><td>pose/NME (lower is better)</td><td>0.2500</td><td>0.2000</td><td>epoch 2</td></tr>' in page
    assert 'Trained</td><td>9 iterations, epoch 3' in page


def test_bad_work_dirs_are_named(tmp_path):
    with pytest.raises(ReportError, match='missing: no such work dir'):
        build_report(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ReportError, match='empty: no training log.*is this a work dir'):
        build_report(tmp_path / 'empty')
    with pytest.raises(SystemExit) as code:
        from visioncraft.cli.main import run_cli
        run_cli(vc_main, ['report', str(tmp_path / 'missing')])
    assert code.value.code == 2


@pytest.mark.slow
def test_visioncraft_report_command(tiny_det_run, tmp_path):
    out = tmp_path / 'page.html'
    done = subprocess.run([sys.executable, '-m', 'visioncraft.cli.main', 'report', str(tiny_det_run), '--out',
                           str(out), '--num-samples', '1', '--device', 'cpu'], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f'report written to {out}' in done.stdout
    page = out.read_text()
    assert_self_contained(page)
    assert page.count('<img ') == 1 and '<svg' in page
