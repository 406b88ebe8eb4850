"""demo/video_demo.py, webcam_demo.py, video_gpuaccel_demo.py and what they run on (DetInferencer over frames,
visioncraft.apis.video, .display, .video_detection, .demo_args), on a generated 12-frame video and a tiny random
RetinaNet."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, tiny_retinanet
from visioncraft.apis import inference_detector, init_detector
from visioncraft.apis.demo_args import run_demo
from visioncraft.apis.video import VideoIOError, open_video, open_video_writer, read_frames
from visioncraft.apis import DetInferencer
from visioncraft.apis.video_detection import DevicePipeline
from visioncraft.config import Config
from visioncraft.registry import MODELS

N_FRAMES, H, W = 12, 96, 128
RED_BGR = (0, 0, 255)  # the visualizer's prediction colour


def _frames() -> list[np.ndarray]:
    """A yellow square moving right and a blue circle moving left on grey: no red anywhere."""
    out = []
    for i in range(N_FRAMES):
        f = np.full((H, W, 3), 40, np.uint8)
        cv2.rectangle(f, (5 + 6 * i, 12), (40 + 6 * i, 47), (0, 220, 220), -1)
        cv2.circle(f, (105 - 5 * i, 65), 16, (230, 90, 30), -1)
        out.append(f)
    return out


def _write_video(path: Path, frames: list[np.ndarray]) -> Path:
    for fourcc, ext in (('mp4v', '.mp4'), ('MJPG', '.avi')):
        target = path.with_suffix(ext)
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), 10.0, (W, H))
        if writer.isOpened():
            for f in frames:
                writer.write(f)
            writer.release()
            return target
    raise RuntimeError('this OpenCV can write neither mp4v .mp4 nor MJPG .avi')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('video_demos')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]
    cfg = dict(model=tiny_retinanet(),
               test_dataloader=dict(batch_size=2, dataset=dict(type='CocoDataset', pipeline=pipeline)))
    cfg_path = root / 'tiny_retinanet.py'
    Config(cfg).dump(cfg_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg['model'])
    ckpt = root / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': ['a', 'b', 'c']}}}, ckpt)
    video = _write_video(root / 'clip', _frames())
    return dict(root=root, config=cfg_path, checkpoint=ckpt, video=video)


@pytest.fixture(scope='module')
def model(files):
    return init_detector(files['config'], str(files['checkpoint']), device='cpu')


def _decoded(path: Path) -> list[np.ndarray]:
    cap, _ = open_video(path)
    return list(read_frames(cap))


def _start(script: str, *args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env['OMP_NUM_THREADS'] = '1'  # tiny model; extra threads only contend on a small CI machine
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)
    return subprocess.Popen([sys.executable, str(REPO / 'demo' / script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class _Run:
    """A demo started in the background; ``result()`` waits for it: (return code, stderr)."""

    def __init__(self, script: str, out: Path, *args) -> None:
        self.out = out
        self.proc = _start(script, *args)
        self._done = None

    def result(self) -> tuple[int, str]:
        if self._done is None:
            self.stdout, err = self.proc.communicate(timeout=300)
            self._done = (self.proc.returncode, err)
        return self._done


@pytest.fixture(scope='module', autouse=True)
def runs(files, request):
    """The three demos as subprocesses, started before this module's first test so that they run while the
    in-process tests do (most of their time is importing torch); none when their tests (marked slow) are
    deselected, as ``-m "not slow"`` does."""
    if not any(item.get_closest_marker('slow') for item in request.session.items
               if getattr(item, 'module', None) is request.module):
        yield {}
        return
    common = (files['config'], files['checkpoint'], '--device', 'cpu', '--score-thr', '0')
    root = files['root']
    started = dict(  # video_demo.py without --device: its default ('auto') runs on a machine without CUDA too
        video=_Run('video_demo.py', root / 'out' / 'drawn.mp4', files['video'], files['config'], files['checkpoint'],
                   '--score-thr', '0', '--out', root / 'out' / 'drawn.mp4'),
        webcam=_Run('webcam_demo.py', root / 'cam.avi', *common, '--camera-id', files['video'],
                    '--out', root / 'cam.avi', '--max-frames', 5),
        gpuaccel=_Run('video_gpuaccel_demo.py', root / 'gpu.mp4', files['video'], *common, '--batch-size', 5,
                      '--out', root / 'gpu.mp4'),
    )
    yield started
    for run in started.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()


def _red(frame: np.ndarray) -> np.ndarray:
    b, g, r = (frame[..., c].astype(int) for c in range(3))
    return (r > 180) & (g < 90) & (b < 90)


def _check_output(out: Path, inputs: list[np.ndarray], n: int, drawn: bool = True) -> None:
    frames = _decoded(out)
    assert len(frames) == n
    for got, src in zip(frames, inputs):
        assert got.shape == (H, W, 3)  # the input's size, not the visualizer's enlarged one
        assert not _red(src).any()
        if drawn:  # score-thr 0: all 10 predictions are drawn in red
            assert _red(got).mean() > 0.01
        else:
            assert _red(got).mean() < 0.001


def _load_demo(name: str):
    spec = importlib.util.spec_from_file_location(f'demo_{name}', REPO / 'demo' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fails_with(name: str, argv: list, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        run_demo(_load_demo(name).main, [str(a) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'Traceback' not in err
    return err


# -- the device pipeline gives inference_detector's predictions -------------------------------------------
def _match(a, b, box_tol: float = 0.05, score_tol: float = 1e-4) -> None:
    """Same detections, in any order (near-equal scores may swap places)."""
    pa, pb = a.pred_instances, b.pred_instances
    assert len(pa) == len(pb) > 0
    free = set(range(len(pb)))
    for i in range(len(pa)):
        d = (pb.bboxes - pa.bboxes[i]).abs().max(1).values
        hits = [j for j in free if pb.labels[j] == pa.labels[i] and d[j] < box_tol
                and abs(float(pb.scores[j] - pa.scores[i])) < score_tol]
        assert hits, f'prediction {i} ({pa.bboxes[i].tolist()}) has no counterpart'
        free.remove(hits[0])


def test_device_pipeline_equals_inference_detector(model, files):
    frames = _decoded(files['video'])[::3]
    pipe = DevicePipeline(model)
    inputs, samples = pipe.preprocess(frames)
    assert inputs.shape == (4, 3, 48, 64) and inputs.dtype == torch.uint8
    assert samples[0].metainfo['scale_factor'] == (0.5, 0.5) and samples[0].metainfo['ori_shape'] == (H, W)
    ref = cv2.resize(frames[0], (64, 48), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(inputs[0].permute(1, 2, 0).numpy().astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05  # OpenCV's fixed-point rounding, nothing more
    on_device = pipe(frames)
    reference = inference_detector(model, frames)
    for a, b in zip(reference, on_device):
        assert tuple(b.metainfo['ori_shape']) == (H, W)
        _match(a, b)
    # frames already at the network's size go through unresized: the same numbers, in the same order
    small = [cv2.resize(f, (64, 48), interpolation=cv2.INTER_LINEAR) for f in frames[:2]]
    for a, b in zip(inference_detector(model, small), pipe(small)):
        for key in ('bboxes', 'scores', 'labels'):
            torch.testing.assert_close(getattr(b.pred_instances, key), getattr(a.pred_instances, key))


def test_device_pipeline_names_a_step_it_cannot_run(files):
    cfg = Config.fromfile(files['config'])
    cfg.test_dataloader.dataset.pipeline.insert(2, dict(type='RandomFlip', prob=0.0))
    model = init_detector(cfg, str(files['checkpoint']), device='cpu')
    with pytest.raises(ValueError, match=r"pipeline\[2\] \(type='RandomFlip'\)"):
        DevicePipeline(model)


# -- errors -----------------------------------------------------------------------------------------------
def test_missing_video_is_one_clear_error(files, capsys):
    missing = files['root'] / 'nope.mp4'
    err = _fails_with('video_demo', [missing, files['config'], files['checkpoint'], '--device', 'cpu',
                                     '--out', files['root'] / 'x.mp4'], capsys)
    assert str(missing) in err and 'no such file' in err
    err = _fails_with('video_gpuaccel_demo', [missing, files['config'], files['checkpoint'], '--device', 'cpu',
                                              '--out', files['root'] / 'x.mp4'], capsys)
    assert str(missing) in err
    not_a_video = files['root'] / 'notes.mp4'
    not_a_video.write_text('hello')
    err = _fails_with('video_demo', [not_a_video, files['config'], files['checkpoint'], '--device', 'cpu',
                                     '--out', files['root'] / 'x.mp4'], capsys)
    assert str(not_a_video) in err


def test_bad_camera_id_is_one_clear_error(files, capsys):
    err = _fails_with('webcam_demo', [files['config'], files['checkpoint'], '--device', 'cpu', '--camera-id', 57,
                                      '--out', files['root'] / 'x.mp4'], capsys)
    assert 'camera 57' in err


def test_nvdecode_unavailable_exits_2_saying_what_to_install(files, capsys):
    err = _fails_with('video_gpuaccel_demo', [files['video'], files['config'], files['checkpoint'], '--device',
                                              'cpu', '--nvdecode', '--out', files['root'] / 'x.mp4'], capsys)
    if importlib.util.find_spec('torchcodec') is None:
        assert 'pip install torchcodec' in err
    else:  # installed, but --device cpu
        assert 'needs a CUDA device' in err


def test_writer_errors_name_the_file(tmp_path):
    with pytest.raises(VideoIOError, match=r"out\.xyz.*unknown extension '\.xyz'"):
        open_video_writer(tmp_path / 'out.xyz', 10.0, (W, H))
    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(VideoIOError, match=r"out\.mp4.*cannot make its folder"):
        open_video_writer(blocker / 'sub' / 'out.mp4', 10.0, (W, H))


def test_inferencer_on_frames_keeps_order_size_and_threshold(model, files, tmp_path):
    frames = _decoded(files['video'])[:4]
    inferencer = DetInferencer(files['config'], str(files['checkpoint']), device='cpu', show_progress=False)
    calls = []
    forward = inferencer.forward

    def spy(batch):
        calls.append(len(batch))
        return forward(batch)

    inferencer.forward = spy
    out = tmp_path / 'hidden.avi'
    got = [p for r in inferencer.iterate_frames(iter(frames), name='clip.avi', fps=5.0, video_out=out, batch_size=3,
                                                 return_datasamples=True,
                                                 visualize_kwargs=dict(pred_score_thr=0.99))
           for p in r['predictions']]
    assert len(got) == 4 and calls == [3, 1]
    for sample, frame in zip(got, frames):  # in order: each frame's own predictions
        want = inference_detector(model, frame).pred_instances
        torch.testing.assert_close(sample.pred_instances.bboxes, want.bboxes)
    _check_output(out, frames, 4, drawn=False)  # nothing scores 0.99: frames written undrawn
    drawn = inferencer.visualize(frames[0], inference_detector(model, frames[0]), pred_score_thr=0.0)
    assert drawn.shape == frames[0].shape and _red(drawn[..., ::-1]).mean() > 0.01


def test_show_without_display_warns_and_still_writes(files, tmp_path, monkeypatch, recwarn):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    out = tmp_path / 'shown.mp4'
    assert _load_demo('video_gpuaccel_demo').main([str(files['video']), str(files['config']),
                                                   str(files['checkpoint']), '--device', 'cpu', '--show',
                                                   '--batch-size', '12', '--out', str(out)]) == 0
    assert any('no display' in str(w.message) for w in recwarn)
    assert len(_decoded(out)) == N_FRAMES


# -- the three demos, end to end (started by the `runs` fixture) ----------------------------------------
@pytest.mark.slow
def test_video_demo_writes_drawn_video_of_input_size(files, runs):
    code, err = runs['video'].result()
    out = runs['video'].out
    assert code == 0, err[-3000:]
    assert f'{N_FRAMES} frames' in runs['video'].stdout  # the summary (no progress bar: stderr is no terminal)
    _check_output(out, _decoded(files['video']), N_FRAMES)
    cap, info = open_video(out)
    cap.release()
    assert (info.width, info.height, info.fps) == (W, H, 10.0)


@pytest.mark.slow
def test_webcam_demo_on_a_file_stops_after_max_frames(files, runs):
    code, err = runs['webcam'].result()
    out = runs['webcam'].out
    assert code == 0, err[-3000:]
    _check_output(out, _decoded(files['video']), 5)


@pytest.mark.slow
def test_gpuaccel_demo_on_cpu_batches_and_draws(files, runs):
    code, err = runs['gpuaccel'].result()
    out = runs['gpuaccel'].out
    assert code == 0, err[-3000:]
    _check_output(out, _decoded(files['video']), N_FRAMES)
