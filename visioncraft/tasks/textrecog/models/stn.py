"""STN: the thin-plate-spline (TPS) rectifier of ASTER (Shi et al., TPAMI 2018), MMOCR's ``preprocessor=dict(
type='STN', ...)`` in front of SVTR. A small CNN looks at a downsized copy of the word image and predicts
``num_control_points`` points on it (half along the top edge of the text, half along the bottom, in [0, 1]
coordinates); a thin-plate spline maps the fixed points of the output image (evenly spaced along its top and bottom
margins) onto them, and the output image is sampled through that map. Curved or slanted words come out straight.

The parameter and buffer names are MMOCR's (``stn_convnet.<i>.conv / .bn``, ``stn_fc1``, ``stn_fc2``,
``tps.inverse_kernel`` / ``padding_matrix`` / ``target_coordinate_repr`` / ``target_control_points``), so MMOCR's
SVTR checkpoints load as they are. Like MMOCR, the forward pass uses the TPS matrices as stored (a checkpoint's
buffers are the ones it was trained with), folded in float64 into one matrix of the points so that the sampling grid
is the same to ~1e-7 in every runtime (see :meth:`TPSTransform._refresh_grid`); the ONNX graph writes the
localisation network's resize out (:func:`resize_bilinear_align_corners`). Both keep an exported STN within ~2e-5 of
PyTorch's on word images (tests/export/test_export_svtr_stn.py).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['STN', 'TPSTransform', 'resize_bilinear_align_corners', 'tps_control_points']


def tps_control_points(num_control_points: int, margin_x: float, margin_y: float) -> torch.Tensor:
    """``num_control_points`` x 2 (x, y) points in [0, 1]: half evenly spaced along ``y = margin_y`` from
    ``x = margin_x`` to ``1 - margin_x``, then the same along ``y = 1 - margin_y``."""
    per_side = num_control_points // 2
    xs = torch.linspace(margin_x, 1.0 - margin_x, per_side, dtype=torch.float64)
    top = torch.stack([xs, torch.full_like(xs, margin_y)], 1)
    bottom = torch.stack([xs, torch.full_like(xs, 1.0 - margin_y)], 1)
    return torch.cat([top, bottom]).float()


def _radial_basis(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The thin-plate radial basis ``U = d^2 log(d^2) / 2`` between every point (P x 2) and centre (C x 2): P x C,
    0 where a point is a centre."""
    d2 = (points[:, None, :] - centres[None, :, :]).pow(2).sum(-1)
    return torch.where(d2 > 0, 0.5 * d2 * torch.log(d2.clamp_min(1e-30)), torch.zeros_like(d2))


class TPSTransform(nn.Module):
    """Thin-plate-spline warp onto an ``output_image_size`` (H, W) image, from ``num_control_points`` source
    points predicted per image (N x K x 2, (x, y) in [0, 1] of the input image).

    Buffers (MMOCR's names): ``target_control_points`` (K x 2, the fixed points of the output image),
    ``inverse_kernel`` ((K + 3) x (K + 3), the inverse of the TPS system matrix on them), ``padding_matrix``
    (3 x 2 zeros: the affine rows of the right-hand side), ``target_coordinate_repr`` (H*W x (K + 3): every output
    pixel's radial-basis and affine terms, pixels row-major). Not saved: ``grid_weights`` / ``grid_offset``, the
    spline folded into one map of the points (what ``forward`` uses; refolded when a state dict loads)."""

    def __init__(self, output_image_size: Sequence[int] = (32, 100), num_control_points: int = 20,
                 margins: Sequence[float] = (0.05, 0.05)) -> None:
        super().__init__()
        if len(output_image_size) != 2 or min(int(s) for s in output_image_size) < 2:
            raise ValueError(f'TPSTransform: output_image_size must be (height, width), both >= 2, got '
                             f'{output_image_size!r}')
        if int(num_control_points) < 4 or int(num_control_points) % 2:
            raise ValueError(f'TPSTransform: num_control_points must be an even number >= 4 (half on the top '
                             f'edge, half on the bottom), got {num_control_points!r}')
        self.output_image_size = (int(output_image_size[0]), int(output_image_size[1]))
        self.num_control_points = k = int(num_control_points)
        self.margins = (float(margins[0]), float(margins[1]))
        h, w = self.output_image_size
        target = tps_control_points(k, *self.margins)
        # the TPS system [[U, 1, P], [1^T, 0, 0], [P^T, 0, 0]] on the target points; its inverse maps the source
        # points (and three zero rows) to the spline's K radial weights and 3 affine coefficients
        system = torch.zeros(k + 3, k + 3, dtype=torch.float64)
        t64 = target.double()
        system[:k, :k] = _radial_basis(t64, t64)
        system[:k, k] = 1.0
        system[k, :k] = 1.0
        system[:k, k + 1:] = t64
        system[k + 1:, :k] = t64.t()
        inverse = torch.linalg.inv(system).float()
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) / (h - 1),
                                torch.arange(w, dtype=torch.float64) / (w - 1), indexing='ij')
        pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)  # H*W x (x, y), row-major
        repr_ = torch.cat([_radial_basis(pixels, t64), torch.ones(h * w, 1, dtype=torch.float64), pixels], 1)
        self.register_buffer('inverse_kernel', inverse)
        self.register_buffer('padding_matrix', torch.zeros(3, 2))
        self.register_buffer('target_coordinate_repr', repr_.float())
        self.register_buffer('target_control_points', target)
        self.register_buffer('grid_weights', torch.empty(h * w, k), persistent=False)
        self.register_buffer('grid_offset', torch.empty(h * w, 2), persistent=False)
        self._refresh_grid()
        self.register_load_state_dict_post_hook(self._refresh_grid)

    def _source_key(self) -> tuple:
        return tuple((b.device, b.dtype, b.data_ptr(), b._version)
                     for b in (self.target_coordinate_repr, self.inverse_kernel, self.padding_matrix))

    def _refresh_grid(self, *_) -> None:
        """Fold the spline into ``grid_weights`` / ``grid_offset`` (non-persistent buffers, so the state dict stays
        MMOCR's): ``source = grid_weights @ points + grid_offset`` for every output pixel, H*W x K and H*W x 2
        (the offset is 0 unless a checkpoint's ``padding_matrix`` is not zeros).

        Mathematically this is MMOCR's two products, ``target_coordinate_repr @ (inverse_kernel @ [points;
        padding])``; numerically it is not: the spline's radial weights are large (|inverse_kernel| ~ 90) and cancel
        back to coordinates in [0, 1], so in float32 the two products carry a rounding error of ~3e-6 that depends
        on the matrix kernel's summation order (PyTorch's BLAS and ONNX Runtime's differ, and so do two BLAS
        builds); the sampled image moves by ~255 * 3e-6 pixels, up to ~0.005 at a sharp edge. Folded in float64,
        each pixel's map is a well-conditioned weighted mean of the points (each row sums to 1), so the one float32
        product left is exact to ~1e-7 in any runtime. Computed here (at construction and after a state dict
        loads), not in ``forward``, so a traced or exported graph holds the folded float32 matrix as a constant."""
        k = self.num_control_points
        device = self.inverse_kernel.device
        work = torch.device('cpu') if device.type == 'mps' else device  # MPS has no float64
        with torch.no_grad():
            full = self.target_coordinate_repr.to(work, torch.float64) @ self.inverse_kernel.to(work, torch.float64)
            offset = full[:, k:] @ self.padding_matrix.to(work, torch.float64)
            self.grid_weights = full[:, :k].float().to(device)
            self.grid_offset = offset.float().to(device)
        self.__dict__['_grid_key'] = self._source_key()

    def forward(self, img: torch.Tensor, source_control_points: torch.Tensor) -> torch.Tensor:
        k = self.num_control_points
        if not torch.jit.is_tracing() and (source_control_points.dim() != 3 or
                                           tuple(source_control_points.shape[1:]) != (k, 2)):
            raise ValueError(f'TPSTransform: source_control_points must be N x {k} x 2, got '
                             f'{tuple(source_control_points.shape)}')
        n = source_control_points.shape[0]
        if not torch.jit.is_tracing() and self.__dict__.get('_grid_key') != self._source_key():
            self._refresh_grid()  # the spline's buffers were changed in place or moved since the last fold
        # N x H*W x 2, (x, y) in the input's [0, 1]
        source = self.grid_weights.float() @ source_control_points.float() + self.grid_offset.float()
        grid = source.reshape(n, *self.output_image_size, 2).clamp(0, 1) * 2.0 - 1.0
        return F.grid_sample(img, grid.to(img.dtype), mode='bilinear', padding_mode='zeros', align_corners=True)


def _linear_taps(in_size, out_size: int, device: torch.device):
    """The two source indices and weights of every output index of a 1-D linear resize with
    ``align_corners=True``, computed as PyTorch's kernel computes them (float32 ``scale = (in - 1) / (out - 1)``,
    ``x = scale * i``, ``i0 = floor(x)``, ``w1 = x - i0``, ``w0 = 1 - w1``). ``in_size`` may be a traced size."""
    last = (in_size if isinstance(in_size, torch.Tensor) else torch.tensor(in_size, device=device)) - 1
    scale = last.float() / max(out_size - 1, 1)
    x = scale * torch.arange(out_size, dtype=torch.float32, device=device)
    i0 = torch.minimum(x.floor().long(), last)
    w1 = (x - i0.float()).clamp(0, 1)
    return i0, torch.minimum(i0 + 1, last), 1 - w1, w1


def resize_bilinear_align_corners(img: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``F.interpolate(img, size, mode='bilinear', align_corners=True)`` written as gathers and products, for the
    ONNX graph: ONNX Runtime's ``Resize`` computes the source coordinate as ``i * (in - 1) / (out - 1)``, whose
    rounding differs from PyTorch's ``scale * i`` by up to ~1.5e-5 pixels at the far end of a 256-pixel row (~7e-5
    on the resized image), which the STN's localisation network turns into control points ~1e-6 apart. This form
    has PyTorch's indices and weights exactly; the result is within 1 ulp of PyTorch's."""
    (oh, ow), device = (int(s) for s in size), img.device
    h0, h1, a0, a1 = _linear_taps(img.shape[2], oh, device)
    w0, w1, b0, b1 = _linear_taps(img.shape[3], ow, device)
    top, bottom = img.index_select(2, h0), img.index_select(2, h1)
    top = top.index_select(3, w0) * b0 + top.index_select(3, w1) * b1
    bottom = bottom.index_select(3, w0) * b0 + bottom.index_select(3, w1) * b1
    return top * a0[:, None] + bottom * a1[:, None]


class _ConvBNReLU(nn.Module):
    """3x3 conv (no bias) -> BatchNorm -> ReLU, with MMOCR's ConvModule names (``conv``, ``bn``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


@MODELS.register_module()
class STN(nn.Module):
    """ASTER's TPS rectifier (MMOCR's ``STN`` preprocessor).

    Args (MMOCR's):
        in_channels: image channels.
        resized_image_size: (H, W) the localisation CNN reads (the image is resized to it bilinearly). Its five
            2x2 max-pools must leave a map of 2 cells (MMOCR's fully connected layer takes 2 x 256 features), e.g.
            H in [32, 63] and W in [64, 95]; MMOCR uses (32, 64).
        output_image_size: (H, W) of the rectified image (what the recogniser's encoder reads).
        num_control_points: TPS control points (even; half on the top edge, half on the bottom).
        margins: (x, y) margins of the output image's control points, as fractions of its width / height.
        init_cfg: accepted for MMOCR's schema (the initialisation is MMOCR's: Xavier convolutions, BatchNorm
            scales 1, and the last layer predicting the points 0.01 in from the image's top and bottom edges).

    Forward: float N x C x H x W (normalised) -> N x C x output H x output W.
    """

    def __init__(self, in_channels: int, resized_image_size: Sequence[int] = (32, 64),
                 output_image_size: Sequence[int] = (32, 100), num_control_points: int = 20,
                 margins: Sequence[float] = (0.05, 0.05), init_cfg=None) -> None:
        super().__init__()
        rh, rw = (int(s) for s in resized_image_size)
        if rh // 32 * (rw // 32) != 2:
            raise ValueError(f'STN: resized_image_size={tuple(resized_image_size)!r} leaves a {rh // 32} x '
                             f'{rw // 32} map after the five 2x2 max-pools; the fully connected layer needs 2 cells '
                             '(e.g. 1 x 2: (32, 64), MMOCR\'s)')
        self.resized_image_size = (rh, rw)
        self.num_control_points = int(num_control_points)
        self.tps = TPSTransform(output_image_size, num_control_points, margins)
        layers: list[nn.Module] = []
        widths = [in_channels, 32, 64, 128, 256, 256, 256]
        for i in range(6):
            layers.append(_ConvBNReLU(widths[i], widths[i + 1]))
            if i < 5:
                layers.append(nn.MaxPool2d(2, 2))
        self.stn_convnet = nn.Sequential(*layers)
        self.stn_fc1 = nn.Sequential(nn.Linear(2 * 256, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True))
        self.stn_fc2 = nn.Linear(512, self.num_control_points * 2)
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # start from points 0.01 in from the top and bottom edges: at first the rectifier (nearly) keeps the image
        nn.init.zeros_(self.stn_fc2.weight)
        with torch.no_grad():
            self.stn_fc2.bias.copy_(tps_control_points(self.num_control_points, 0.01, 0.01).reshape(-1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():  # ONNX Runtime's Resize rounds the source coordinates differently
            small = resize_bilinear_align_corners(img, self.resized_image_size)
        else:
            small = F.interpolate(img, self.resized_image_size, mode='bilinear', align_corners=True)
        feat = self.stn_convnet(small).flatten(1)
        points = self.stn_fc2(0.1 * self.stn_fc1(feat))
        return self.tps(img, points.reshape(-1, self.num_control_points, 2))
