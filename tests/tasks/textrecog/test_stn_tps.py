"""STN (MMOCR's TPS rectifier): the spline's must-hold facts and MMOCR's state-dict layout. Parity with MMOCR's own
STN on shared weights is tests/reference/test_upstream_parity.py's svtr-tiny_20e_st_mj case."""
import pytest
import torch

from visioncraft.tasks.textrecog.models.stn import STN, TPSTransform, tps_control_points


def test_tps_with_the_target_points_is_the_identity():
    """Source points = the output's own control points: the spline is the identity map, so an image of the output
    size comes back unchanged (bilinear sampling at the pixel centres, align_corners=True)."""
    tps = TPSTransform((8, 12), num_control_points=6, margins=(0.1, 0.2))
    img = torch.rand(2, 3, 8, 12)
    out = tps(img, tps.target_control_points.expand(2, 6, 2))
    assert torch.allclose(out, img, atol=1e-4)


def test_tps_with_affinely_moved_points_is_that_affine_map():
    """A thin-plate spline reproduces affine maps exactly: points moved to the left half of the input make the
    output the left half of the input (stretched to the full width)."""
    tps = TPSTransform((4, 8), num_control_points=8, margins=(0.0, 0.0))
    src = tps.target_control_points.clone()
    src[:, 0] *= 0.5
    img = torch.arange(15, dtype=torch.float32).repeat(4, 1)[None, None]  # 4 x 15, value = column
    out = tps(img, src[None])
    assert torch.allclose(out[0, 0], torch.linspace(0, 7, 8).repeat(4, 1), atol=1e-3)


def test_stn_layout_is_mmocrs_and_starts_near_the_identity():
    stn = STN(in_channels=3).eval()
    sd = stn.state_dict()
    assert {k for k in sd if k.startswith('tps.')} == {'tps.inverse_kernel', 'tps.padding_matrix',
                                                       'tps.target_coordinate_repr', 'tps.target_control_points'}
    assert sd['tps.target_coordinate_repr'].shape == (32 * 100, 23) and sd['stn_fc1.0.weight'].shape == (512, 512)
    assert [k for k in sd if k.endswith('conv.weight')] == [f'stn_convnet.{i}.conv.weight' for i in range(0, 11, 2)]
    assert torch.equal(stn.stn_fc2.bias.view(20, 2), tps_control_points(20, 0.01, 0.01))
    # at initialisation the points sit 0.01 in from the top and bottom edges: a 64 x 256 image is (nearly) resized
    img = torch.linspace(0, 1, 256).repeat(3, 64, 1)[None]
    with torch.no_grad():
        out = stn(img)
    want = torch.nn.functional.interpolate(img, (32, 100), mode='bilinear', align_corners=True)
    assert out.shape == (1, 3, 32, 100) and (out - want).abs().max() < 0.1


def test_stn_rejects_bad_arguments():
    with pytest.raises(ValueError, match='resized_image_size'):
        STN(in_channels=1, resized_image_size=(64, 64))
    with pytest.raises(ValueError, match='num_control_points'):
        STN(in_channels=1, num_control_points=7)
    with pytest.raises(ValueError, match='source_control_points'):
        TPSTransform((8, 8), 6)(torch.rand(1, 1, 8, 8), torch.rand(1, 5, 2))
