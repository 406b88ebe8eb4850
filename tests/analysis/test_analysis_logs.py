"""tools/analysis_tools/analyze_logs.py: plot_curve (PNG and SVG, one run or several) and cal_train_time, on
handwritten scalars.json files and on a real tiny run's."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from conftest import read_scalars
from visioncraft.analysis.arguments import run_tool
from visioncraft.analysis.logs import LogError, cal_train_time, find_scalars, load_log, load_work_dir, main
from visioncraft.analysis.plots import PALETTE
from visioncraft.errors import run_entry_point

from .conftest import handwritten_rows, write_scalars

SVG = '{http://www.w3.org/2000/svg}'


def svg_series(path) -> dict[str, tuple[list[float], list[float]]]:
    """label -> (xs, ys) of every series of an SVG figure, from the polylines' data attributes."""
    root = ET.fromstring(path.read_text())
    out = {}
    for g in root.iter(f'{SVG}g'):
        if g.get('class') == 'series':
            line = next(g.iter(f'{SVG}polyline'))
            out[g.get('data-label')] = ([float(v) for v in line.get('data-x').split()],
                                        [float(v) for v in line.get('data-y').split()])
    return out


def test_plot_curve_svg_holds_the_logged_values(handwritten_run, tmp_path):
    out = main(['plot_curve', str(handwritten_run), '--keys', 'loss_cls', 'loss_bbox', 'bbox_mAP',
                '--title', 'my run', '--out', str(tmp_path / 'curves.svg')])
    assert out == tmp_path / 'curves.svg'
    text = out.read_text()
    assert text.startswith('<svg') and 'my run' in text
    series = svg_series(out)
    rows = handwritten_rows()
    train = [r for r in rows if 'iter' in r]
    val = [r for r in rows if 'iter' not in r]
    assert series['loss_cls'] == ([r['iter'] for r in train], [r['loss_cls'] for r in train])
    assert series['loss_bbox'] == ([r['iter'] for r in train], [r['loss_bbox'] for r in train])
    # bbox_mAP names coco/bbox_mAP (MMDetection 2.x's key); the metrics are by epoch, in a panel of their own
    assert series['coco/bbox_mAP'] == ([1.0, 2.0], [0.25, 0.5]) and [r['step'] for r in val] == [1, 2]
    assert 'by epoch' in text and 'by iteration' in text


def test_plot_curve_png_draws_every_curve(handwritten_run, tmp_path):
    out = main(['plot_curve', str(find_scalars(handwritten_run)), '--keys', 'loss_cls', 'loss_bbox',
                '--out', str(tmp_path / 'c.png')])
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] == 960 and img.shape[0] > 300
    for colour in PALETTE[:2]:  # both series' colours (BGR) are on the picture
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert np.any(np.all(img == (b, g, r), axis=-1)), colour
    assert not np.any(np.all(img == [int(PALETTE[2][i:i + 2], 16) for i in (5, 3, 1)], axis=-1))  # no 3rd curve


def test_two_runs_on_one_figure_with_legend(handwritten_run, tmp_path):
    other = tmp_path / 'other_run'
    rows = [dict(r, loss=r['loss'] + 1) if 'iter' in r else r for r in handwritten_rows()]
    write_scalars(other, rows)
    out = main(['plot_curve', str(handwritten_run), str(other), '--keys', 'loss', 'lr', '--legend', 'a loss',
                'a lr', 'b loss', 'b lr', '--out', str(tmp_path / 'two.svg')])
    series = svg_series(out)
    assert list(series) == ['a loss', 'a lr', 'b loss', 'b lr']  # log by log, as MMDetection orders them
    assert series['b loss'][1] == [r['loss'] for r in rows if 'iter' in r]
    assert series['a loss'][1] == [r['loss'] for r in handwritten_rows() if 'iter' in r]
    # default labels name the runs
    out = main(['plot_curve', str(handwritten_run), str(other), '--out', str(tmp_path / 'default.svg')])
    assert set(svg_series(out)) == {'hand_run loss', 'other_run loss'}
    with pytest.raises(LogError, match='--legend has 1 label.*4 curves'):
        main(['plot_curve', str(handwritten_run), str(other), '--keys', 'loss', 'lr', '--legend', 'x',
              '--out', str(tmp_path / 'bad.svg')])


def test_start_epoch_and_eval_interval(handwritten_run, tmp_path):
    out = main(['plot_curve', str(handwritten_run), '--keys', 'loss', 'bbox_mAP', '--start-epoch', '2',
                '--out', str(tmp_path / 's.svg')])
    series = svg_series(out)
    assert series['loss'][0] == [4.0, 5.0, 6.0] and series['coco/bbox_mAP'] == ([2.0], [0.5])
    out = main(['plot_curve', str(handwritten_run), '--keys', 'bbox_mAP', '--eval-interval', '2',
                '--out', str(tmp_path / 'e.svg')])
    assert svg_series(out)['coco/bbox_mAP'] == ([1.0], [0.25])


def test_an_iteration_based_run_has_one_panel(tmp_path):
    # by_epoch=False: a training line every 10 iterations, a validation every 20, its step the iteration
    rows = []
    for it in range(10, 70, 10):
        rows.append(dict(lr=0.1, loss=1.0 / it, time=0.1, epoch=1, iter=it, step=it))
        if it % 20 == 0:
            rows.append({'icdar/hmean': it / 100, 'step': it})
    f = write_scalars(tmp_path / 'iter_run', rows)
    log = load_log(f)
    assert [r['_unit'] for r in log.val] == ['iter'] * 3
    out = main(['plot_curve', str(f), '--keys', 'loss', 'hmean', '--out', str(tmp_path / 'i.svg')])
    text = out.read_text()
    assert text.count('class="panel"') == 1 and 'by epoch' not in text
    assert svg_series(out)['icdar/hmean'] == ([20.0, 40.0, 60.0], [0.2, 0.4, 0.6])


def test_a_work_dir_reads_its_newest_training_log(handwritten_run, tmp_path):
    # a later `visioncraft test` run writes a scalars.json with test metrics only: the training log is read
    test_only = write_scalars(handwritten_run, [{'coco/bbox_mAP': 0.6, 'step': 0}], stamp='20260102_000000')
    os.utime(test_only, (2e9, 2e9))
    assert find_scalars(handwritten_run) == handwritten_run / '20260101_000000' / 'vis_data' / 'scalars.json'
    newer = write_scalars(handwritten_run, handwritten_rows()[:2], stamp='20260103_000000')
    os.utime(newer, (2.1e9, 2.1e9))
    assert find_scalars(handwritten_run) == newer


def test_a_resumed_run_replaces_the_lines_it_repeats(handwritten_run):
    # a later run resumed from the end of epoch 1: its iterations 4-6 and epoch 2's validation replace the first's
    rows = handwritten_rows()
    resumed = [dict(r, loss=r['loss'] + 10) if 'iter' in r else r for r in rows[4:]]
    write_scalars(handwritten_run, resumed, stamp='20260102_000000')
    log = load_work_dir(handwritten_run)
    assert [r['iter'] for r in log.train] == [1, 2, 3, 4, 5, 6]
    assert [r['loss'] for r in log.train] == [r['loss'] for r in rows[:3]] + [r['loss'] for r in resumed[:3]]
    assert [r['step'] for r in log.val] == [1, 2] and log.val[1]['_unit'] == 'epoch'


def test_cal_train_time_numbers(handwritten_run, capsys):
    # times 0.9 0.5 0.7 | 0.8 0.4 0.6; each epoch's first logged interval is left out by default
    (t,) = main(['cal_train_time', str(handwritten_run)])
    assert t['epochs'] == pytest.approx({1: 0.6, 2: 0.5})
    assert t['average'] == pytest.approx(0.55) and t['std_over_epochs'] == pytest.approx(0.05)
    assert t['slowest_epoch'] == (1, pytest.approx(0.6)) and t['fastest_epoch'] == (2, pytest.approx(0.5))
    assert t['slowest_iter'] == (3, 0.7) and t['fastest_iter'] == (5, 0.4) and t['lines'] == 4
    out = capsys.readouterr().out
    assert 'slowest epoch 1, average time is 0.6000' in out and 'average iter time: 0.5500 s/iter' in out
    with_outliers = cal_train_time(handwritten_run, include_outliers=True)
    assert with_outliers['average'] == pytest.approx(0.65) and with_outliers['slowest_iter'] == (1, 0.9)


def test_cal_train_time_of_the_real_log(tiny_det_run):
    rows = [r for r in read_scalars(tiny_det_run) if 'time' in r and 'iter' in r]
    t = cal_train_time(tiny_det_run, include_outliers=True)
    assert t['lines'] == len(rows) == 4
    assert t['average'] == pytest.approx(sum(r['time'] for r in rows) / 4)


def test_plot_curve_of_a_real_run(tiny_det_run, tmp_path):
    out = main(['plot_curve', str(tiny_det_run), '--keys', 'loss', 'lr', 'bbox_mAP_50',
                '--out', str(tmp_path / 'real.svg')])
    rows = read_scalars(tiny_det_run)
    series = svg_series(out)
    assert series['loss'][1] == [r['loss'] for r in rows if 'loss' in r]
    assert series['lr'][1] == [r['lr'] for r in rows if 'lr' in r]
    assert series['coco/bbox_mAP_50'] == ([1.0, 2.0], [r['coco/bbox_mAP_50'] for r in rows
                                                       if 'coco/bbox_mAP_50' in r])


def test_unknown_key_is_one_error_line_naming_the_keys(handwritten_run, tmp_path, capsys):
    with pytest.raises(LogError) as exc:
        main(['plot_curve', str(handwritten_run), '--keys', 'loss_clss', '--out', str(tmp_path / 'x.png')])
    msg = str(exc.value)
    assert "no key 'loss_clss'" in msg and "did you mean 'loss_cls'" in msg
    assert 'keys available: base_lr, lr, time, data_time, loss, loss_cls' in msg and 'coco/bbox_mAP' in msg
    with pytest.raises(SystemExit) as code:
        run_entry_point(run_tool, 'analyze_logs', ['plot_curve', str(handwritten_run), '--keys', 'nope',
                                                   '--out', str(tmp_path / 'x.png')])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and 'scalars.json' in err[0] and "'nope'" in err[0]
    assert not (tmp_path / 'x.png').exists()


def test_bad_inputs_are_named(tmp_path, handwritten_run):
    with pytest.raises(LogError, match='no such file or folder'):
        load_log(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(LogError, match='no scalars.json below this folder'):
        load_log(tmp_path / 'empty')
    bad = tmp_path / 'bad' / 'scalars.json'
    bad.parent.mkdir()
    bad.write_text(json.dumps(dict(loss=1.0, iter=1, epoch=1, step=1)) + '\n{"loss": 1.0,\n')
    with pytest.raises(LogError, match=r'bad/scalars.json: line 2 is not JSON'):
        load_log(bad)
    no_time = write_scalars(tmp_path / 'no_time', [dict(loss=1.0, iter=1, epoch=1, step=1)])
    with pytest.raises(LogError, match='no "time" values.*keys available: loss'):
        cal_train_time(no_time)
    with pytest.raises(ValueError, match="cannot write a figure as '.gif'"):
        main(['plot_curve', str(handwritten_run), '--out', str(tmp_path / 'c.gif')])
