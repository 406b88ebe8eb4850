"""tools/analysis_tools/get_flops.py and benchmark.py: MACs of a hand-made net equal the hand-computed number, every
task's config from configs/ is counted, and the benchmark times a tiny run's checkpoint."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import REPO
from visioncraft.analysis import flops, speed
from visioncraft.analysis.arguments import run_tool
from visioncraft.config import Config, ConfigError
from visioncraft.errors import run_entry_point


class TinyNet(nn.Module):
    """conv 3->8 (3x3, pad 1) -> BN -> ReLU -> conv 8->4 (1x1, stride 2) -> flatten -> linear -> 10."""

    def __init__(self, h: int = 16, w: int = 12) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.reduce = nn.Conv2d(8, 4, 1, stride=2, bias=False)
        self.fc = nn.Linear(4 * (h // 2) * (w // 2), 10)

    def forward(self, x):
        return self.fc(self.reduce(self.stem(x)).flatten(1))


def test_macs_of_a_hand_made_net_equal_the_hand_computed_number():
    h, w = 16, 12
    net = TinyNet(h, w).eval()
    stem = 8 * h * w * (3 * 3 * 3)                    # out channels x out pixels x (in channels x kernel)
    reduce = 4 * (h // 2) * (w // 2) * 8              # 1x1, stride 2
    fc = 10 * 4 * (h // 2) * (w // 2)                 # out features x in features
    macs, by_child = flops.count_macs(net, torch.rand(2, 3, h, w))
    assert macs == 2 * (stem + reduce + fc)           # a batch of two
    assert by_child == {'stem': 2 * stem, 'reduce': 2 * reduce, 'fc': 2 * fc}
    assert flops.count_params(net) == (8 * 27 + 8) + 2 * 8 + 4 * 8 + (fc + 10)
    assert flops.format_count(2.5e9, 'MACs') == '2.5 GMACs' and flops.format_count(512) == '512'


# one config per task, with a small --shape where the default would make the test slow (a detector's 1280 x 800)
CONFIGS = [
    ('configs/quickstart/det_shapes.py', ['--shape', '64'], (64, 64), 'RetinaNet'),
    ('configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py', ['--shape', '64', '96'], (64, 96), 'DBNet'),
    ('configs/textrecog/crnn/crnn_mini-vgg_5e_mj.py', [], (32, 100), 'CRNN'),
    ('configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py', [], (256, 192), 'TopdownPoseEstimator'),
]


@pytest.mark.parametrize('config,extra,shape,model', CONFIGS, ids=[c[3] for c in CONFIGS])
def test_get_flops_counts_every_task(config, extra, shape, model, capsys):
    r = flops.main([str(REPO / config), *extra])
    out = capsys.readouterr().out
    assert r['model'] == model and r['shape'] == shape and r['macs'] > 0 and r['flops'] == 2 * r['macs']
    assert r['params'] > 0 and sum(r['by_module'].values()) == r['macs']  # all the work is in the parts
    assert f'MACs: {flops.format_count(r["macs"], "MACs")}' in out and 'what MMDetection prints as "Flops"' in out
    assert f'Params: {flops.format_count(r["params"])} ({r["params"]:,})' in out
    assert f'{shape[0]} x {shape[1]} (H x W' in out


def test_default_shapes():
    retina = Config.fromfile(REPO / 'configs/retinanet/retinanet_r50_fpn_1x_coco.py')
    assert flops.default_input_shape(retina)[0] == (1280, 800)  # MMDetection's get_flops.py default (H, W)
    dbnet = Config.fromfile(REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py')
    assert flops.default_input_shape(dbnet)[0] == (736, 1333)  # its test Resize scale (1333, 736)
    with pytest.raises(ConfigError, match='engine_shapes.py: no input size found.*--shape H W'):
        flops.main([str(REPO / 'configs/quickstart/engine_shapes.py')])


def test_get_flops_bad_input_is_one_error_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as code:
        run_entry_point(run_tool, 'get_flops', [str(tmp_path / 'nope.py')])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and 'nope.py' in err[0]
    with pytest.raises(SystemExit, match='--shape takes H'):
        flops.main([str(REPO / 'configs/quickstart/det_shapes.py'), '--shape', '1', '2', '3'])


def test_fuse_conv_bn_keeps_the_outputs():
    torch.manual_seed(0)
    net = TinyNet().eval()
    bn = net.stem[1]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    x = torch.rand(2, 3, 16, 12)
    before = net(x)
    assert speed.fuse_conv_bn(net) == 1 and isinstance(net.stem[1], nn.Identity)
    torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-5)


def test_benchmark_prints_images_per_second(tiny_det_run, capsys):
    cfg, ckpt = tiny_det_run / 'det_shapes.py', tiny_det_run / 'last_checkpoint'
    r = speed.main([str(cfg), str(ckpt), '--max-iter', '3', '--num-warmup', '1', '--log-interval', '1',
                    '--device', 'cpu', '--fuse-conv-bn', '--no-progress'])
    out = capsys.readouterr().out
    assert r['images'] == 2 and r['fps'] > 0 and r['ms_per_img'] == pytest.approx(1000 / r['fps'])
    assert 'BatchNorm layer(s) folded' in out and out.count('Done image') == 2
    assert f'Overall fps: {r["fps"]:.1f} img / s' in out
    with pytest.raises(ValueError, match='no more than --num-warmup 5'):
        speed.main([str(cfg), str(ckpt), '--max-iter', '3', '--device', 'cpu', '--no-progress'])
