"""Make the Paddle reference files of tests/fileio/test_paddle_parity.py (run in a venv with paddlepaddle, never in
the tests):

    python3 -m venv /tmp/paddlevenv && /tmp/paddlevenv/bin/pip install paddlepaddle==3.3.1 numpy
    /tmp/paddlevenv/bin/python tests/reference/make_paddle_reference.py [OUT_DIR] [--classic]

(``--classic``: only the classic nets of tests/tasks/textdet/test_paddle_classic_parity.py, see main_classic;
``--svtr``: only the rec_svtrnet nets of tests/tasks/textrecog/test_paddle_svtr_parity.py, see main_svtr.)

It builds width-reduced PP-OCRv4 mobile networks in Paddle: the detector (PPLCNetV3 det x0.125 -> RSEFPN 16 ->
DBHead) and the recogniser (PPLCNetV3 rec x0.125 -> MultiHead's CTC branch: SVTR neck 32 -> CTCHead, 37 classes),
written here from the published architecture with PaddleOCR's layer and parameter names (no PaddleOCR code). The
weights are random with a fixed seed, BatchNorm statistics and LAB values randomised too so every branch counts.
It writes to OUT_DIR (default tests/data/reference/paddle/):

* ``{det,rec}.pdparams``: ``paddle.save(model.state_dict())`` (training form, PaddleOCR's names);
* ``det_infer.pdmodel`` / ``.pdiparams``: ``paddle.jit.save`` of the detector, its re-parameterisable layers
  folded first as PaddleOCR's exporter does (the ProgramDesc format, which
  paddlepaddle 2.6 writes; 3.x writes PIR JSON and its old-program mode fails: this script then skips it). Only
  the detector's, to keep the files under 3 MB;
* ``{det,rec}_io.npz``: the fixed input ``x`` and Paddle's eval-mode logits ``y`` (det: the probability map's,
  N x 1 x H x W; rec: the CTC head's, N x T x 37), before the sigmoid / softmax, which would saturate.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault('FLAGS_enable_pir_api', '0')  # .pdmodel (ProgramDesc), not PIR JSON

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn as nn  # noqa: E402
import paddle.nn.functional as F  # noqa: E402

DET_BLOCKS = {
    'blocks2': [(3, 16, 32, 1, False)],
    'blocks3': [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    'blocks4': [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    'blocks5': [(3, 128, 256, 2, False)] + [(5, 256, 256, 1, False)] * 4,
    'blocks6': [(5, 256, 512, 2, True), (5, 512, 512, 1, True), (5, 512, 512, 1, False), (5, 512, 512, 1, False)],
}
REC_BLOCKS = {
    'blocks2': [(3, 16, 32, 1, False)],
    'blocks3': [(3, 32, 64, 1, False), (3, 64, 64, 1, False)],
    'blocks4': [(3, 64, 128, (2, 1), False), (3, 128, 128, 1, False)],
    'blocks5': [(3, 128, 256, (1, 2), False)] + [(5, 256, 256, 1, False)] * 4,
    'blocks6': [(5, 256, 512, (2, 1), True), (5, 512, 512, 1, True), (5, 512, 512, (2, 1), False),
                (5, 512, 512, 1, False)],
}


def divisible(v, d=16):
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class LAB(nn.Layer):
    def __init__(self):
        super().__init__()
        self.scale = self.create_parameter([1], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        return self.scale * x + self.bias


class Act(nn.Layer):
    def __init__(self):
        super().__init__()
        self.lab = LAB()

    def forward(self, x):
        return self.lab(F.hardswish(x))


class ConvBN(nn.Layer):
    def __init__(self, cin, cout, k, s, groups=1):
        super().__init__()
        self.conv = nn.Conv2D(cin, cout, k, s, (k - 1) // 2, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm2D(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class RepLayer(nn.Layer):
    def __init__(self, cin, cout, k, s=1, groups=1, branches=4):
        super().__init__()
        self.stride = s
        self.identity = nn.BatchNorm2D(cin) if cin == cout and s == 1 else None
        self.conv_kxk = nn.LayerList([ConvBN(cin, cout, k, s, groups) for _ in range(branches)])
        self.conv_1x1 = ConvBN(cin, cout, 1, s, groups) if k > 1 else None
        self.lab = LAB()
        self.act = Act()

    def rep(self):
        """Fold the branches into one conv with bias, as PaddleOCR's exporter does before saving (BN in eval form)."""
        conv0 = self.conv_kxk[0].conv
        k, groups = conv0._kernel_size[0], conv0._groups
        cin = conv0.weight.shape[1] * groups
        kernel, bias = 0, 0
        branches = [(b.conv.weight.numpy(), b.bn) for b in self.conv_kxk]
        if self.conv_1x1 is not None:
            w = self.conv_1x1.conv.weight.numpy()
            branches.append((np.pad(w, [(0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)]), self.conv_1x1.bn))
        if self.identity is not None:
            per = cin // groups
            w = np.zeros((cin, per, k, k), 'float32')
            for i in range(cin):
                w[i, i % per, k // 2, k // 2] = 1
            branches.append((w, self.identity))
        for w, bn in branches:
            std = np.sqrt(bn._variance.numpy() + bn._epsilon)
            t = bn.weight.numpy() / std
            kernel = kernel + w * t.reshape(-1, 1, 1, 1)
            bias = bias + bn.bias.numpy() - bn._mean.numpy() * t
        self.reparam_conv = nn.Conv2D(cin, kernel.shape[0], k, self.stride, (k - 1) // 2, groups=groups)
        self.reparam_conv.weight.set_value(kernel.astype('float32'))
        self.reparam_conv.bias.set_value(bias.astype('float32'))
        del self.conv_kxk, self.conv_1x1, self.identity
        self.is_repped = True

    def forward(self, x):
        if getattr(self, 'is_repped', False):
            out = self.lab(self.reparam_conv(x))
            return self.act(out) if self.stride != 2 else out
        out = 0
        if self.identity is not None:
            out += self.identity(x)
        if self.conv_1x1 is not None:
            out += self.conv_1x1(x)
        for conv in self.conv_kxk:
            out += conv(x)
        out = self.lab(out)
        return self.act(out) if self.stride != 2 else out


class SE(nn.Layer):
    def __init__(self, c, paddle_gate=False):
        super().__init__()
        self.paddle_gate = paddle_gate
        self.conv1 = nn.Conv2D(c, c // 4, 1)
        self.conv2 = nn.Conv2D(c // 4, c, 1)

    def forward(self, x):
        w = self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(x, 1))))
        w = F.hardsigmoid(w, slope=0.2, offset=0.5) if self.paddle_gate else F.hardsigmoid(w)
        return x * w


class Block(nn.Layer):
    def __init__(self, cin, cout, s, k, use_se):
        super().__init__()
        self.use_se = use_se
        self.dw_conv = RepLayer(cin, cin, k, s, groups=cin)
        if use_se:
            self.se = SE(cin)
        self.pw_conv = RepLayer(cin, cout, 1)

    def forward(self, x):
        x = self.dw_conv(x)
        if self.use_se:
            x = self.se(x)
        return self.pw_conv(x)


class LCNetV3(nn.Layer):
    def __init__(self, scale, det):
        super().__init__()
        self.det = det
        layout = DET_BLOCKS if det else REC_BLOCKS
        self.conv1 = ConvBN(3, divisible(16 * scale), 3, 2)
        for name, cfg in layout.items():
            setattr(self, name, nn.Sequential(*[Block(divisible(ci * scale), divisible(co * scale), s, k, se)
                                                for k, ci, co, s, se in cfg]))
        if det:
            chans = [divisible(layout[n][-1][2] * scale) for n in ('blocks3', 'blocks4', 'blocks5', 'blocks6')]
            self.layer_list = nn.LayerList([nn.Conv2D(c, int(m * scale), 1) for c, m in zip(chans, (16, 24, 56, 480))])
            self.out_channels = [int(m * scale) for m in (16, 24, 56, 480)]
        else:
            self.out_channels = divisible(512 * scale)

    def forward(self, x):
        x = self.blocks2(self.conv1(x))
        outs = []
        for name in ('blocks3', 'blocks4', 'blocks5', 'blocks6'):
            x = getattr(self, name)(x)
            outs.append(x)
        if self.det:
            return [conv(o) for conv, o in zip(self.layer_list, outs)]
        return F.avg_pool2d(x, [3, 2])


class RSELayer(nn.Layer):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.in_conv = nn.Conv2D(cin, cout, k, padding=k // 2, bias_attr=False)
        self.se_block = SE(cout, paddle_gate=True)

    def forward(self, x):
        x = self.in_conv(x)
        return x + self.se_block(x)


class RSEFPN(nn.Layer):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.ins_conv = nn.LayerList([RSELayer(c, out_channels, 1) for c in in_channels])
        self.inp_conv = nn.LayerList([RSELayer(out_channels, out_channels // 4, 3) for _ in in_channels])

    def forward(self, x):
        # PaddleOCR runs the levels coarsest first; an inference program keeps that order
        ins = [None] * 4
        for i in (3, 2, 1, 0):
            ins[i] = self.ins_conv[i](x[i])
        outs = [None, None, None, ins[3]]
        for i in (2, 1, 0):
            outs[i] = ins[i] + F.upsample(outs[i + 1], scale_factor=2, mode='nearest')
        ps = [None] * 4
        for i in (3, 2, 1, 0):
            ps[i] = self.inp_conv[i](outs[i])
        ps = [F.upsample(p, scale_factor=2 ** i, mode='nearest') if i else p for i, p in enumerate(ps)]
        return paddle.concat(ps[::-1], axis=1)


class DBBranch(nn.Layer):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2D(c, c // 4, 3, padding=1, bias_attr=False)
        self.conv_bn1 = nn.BatchNorm(c // 4, act='relu')
        self.conv2 = nn.Conv2DTranspose(c // 4, c // 4, 2, stride=2)
        self.conv_bn2 = nn.BatchNorm(c // 4, act='relu')
        self.conv3 = nn.Conv2DTranspose(c // 4, 1, 2, stride=2)

    def forward(self, x):  # the logits; the probability map is their sigmoid
        return self.conv3(self.conv_bn2(self.conv2(self.conv_bn1(self.conv1(x)))))


class DBHead(nn.Layer):
    def __init__(self, c):
        super().__init__()
        self.binarize = DBBranch(c)
        self.thresh = DBBranch(c)

    def forward(self, x):
        return self.binarize(x)  # eval: the probability map's logits (saved unsaturated)


class ConvBNSwish(nn.Layer):  # rec_svtrnet's ConvBNLayer: conv, norm, act
    def __init__(self, cin, cout, k):
        super().__init__()
        k = k if isinstance(k, (list, tuple)) else (k, k)
        self.conv = nn.Conv2D(cin, cout, k, padding=[k[0] // 2, k[1] // 2], bias_attr=False)
        self.norm = nn.BatchNorm2D(cout)

    def forward(self, x):
        return F.swish(self.norm(self.conv(x)))


class Attention(nn.Layer):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, c = x.shape
        qkv = self.qkv(x).reshape([n, t, 3, self.heads, c // self.heads]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = F.softmax(q.matmul(k.transpose([0, 1, 3, 2])), axis=-1)
        return self.proj(attn.matmul(v).transpose([0, 2, 1, 3]).reshape([n, t, c]))


class Mlp(nn.Layer):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.swish(self.fc1(x)))


class SVTRBlock(nn.Layer):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=1e-5)
        self.mixer = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, epsilon=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.mixer(self.norm1(x))  # prenorm=False in PaddleOCR's naming: the norm comes first
        return x + self.mlp(self.norm2(x))


class EncoderWithSVTR(nn.Layer):
    def __init__(self, cin, dims, hidden, depth=2, heads=8, kernel=(1, 3)):
        super().__init__()
        self.conv1 = ConvBNSwish(cin, cin // 8, kernel)
        self.conv2 = ConvBNSwish(cin // 8, hidden, 1)
        self.svtr_block = nn.LayerList([SVTRBlock(hidden, heads, 2.0) for _ in range(depth)])
        self.norm = nn.LayerNorm(hidden, epsilon=1e-6)
        self.conv3 = ConvBNSwish(hidden, cin, 1)
        self.conv4 = ConvBNSwish(2 * cin, cin // 8, kernel)
        self.conv1x1 = ConvBNSwish(cin // 8, dims, 1)

    def forward(self, x):
        h = x
        z = self.conv2(self.conv1(x))
        n, c, hh, ww = z.shape
        z = z.flatten(2).transpose([0, 2, 1])
        for blk in self.svtr_block:
            z = blk(z)
        z = self.norm(z).reshape([0, hh, ww, c]).transpose([0, 3, 1, 2])
        z = self.conv3(z)
        return self.conv1x1(self.conv4(paddle.concat((h, z), axis=1)))


class SequenceEncoder(nn.Layer):
    def __init__(self, cin, **kw):
        super().__init__()
        self.encoder = EncoderWithSVTR(cin, **kw)

    def forward(self, x):
        return self.encoder(x).squeeze(2).transpose([0, 2, 1])


class CTCHead(nn.Layer):
    def __init__(self, cin, classes):
        super().__init__()
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(x)  # the logits (PaddleOCR's eval mode adds a softmax)


class MultiHeadCTC(nn.Layer):  # MultiHead with its CTC branch (the one inference runs)
    def __init__(self, cin, classes, dims, hidden):
        super().__init__()
        self.ctc_encoder = SequenceEncoder(cin, dims=dims, hidden=hidden)
        self.ctc_head = CTCHead(dims, classes)

    def forward(self, x):
        return self.ctc_head(self.ctc_encoder(x))


class Model(nn.Layer):  # PaddleOCR's BaseModel: backbone, neck, head
    def __init__(self, backbone, neck, head):
        super().__init__()
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.head = head
        self.use_neck = neck is not None

    def forward(self, x):
        x = self.backbone(x)
        if self.use_neck:
            x = self.neck(x)
        return self.head(x)


def randomise(model: nn.Layer, seed: int) -> None:
    """Non-trivial BatchNorm statistics / affine and LAB values (their initial 0 / 1 would hide a wrong mapping)."""
    rng = np.random.default_rng(seed)
    for name, p in model.state_dict().items():
        if name.endswith(('_mean', 'lab.bias')) or (name.endswith('bias') and p.ndim == 1):
            p.set_value(rng.normal(0, 0.1, p.shape).astype('float32'))
        elif name.endswith(('_variance',)):
            p.set_value(rng.uniform(0.5, 1.5, p.shape).astype('float32'))
        elif name.endswith('lab.scale'):
            p.set_value(rng.uniform(0.7, 1.3, p.shape).astype('float32'))
        elif name.endswith('weight') and p.ndim == 1:  # BatchNorm / LayerNorm gains: small, so the summed
            p.set_value(rng.uniform(0.3, 0.6, p.shape).astype('float32'))  # branches keep activations O(1)


def save(model: nn.Layer, x: np.ndarray, out_dir: str, name: str, with_inference: bool) -> None:
    model.eval()
    y = model(paddle.to_tensor(x)).numpy()
    paddle.save(model.state_dict(), os.path.join(out_dir, f'{name}.pdparams'))
    np.savez_compressed(os.path.join(out_dir, f'{name}_io.npz'), x=x, y=y)
    print(name, 'output', y.shape)
    spec = [paddle.static.InputSpec([None, 3, x.shape[2], None], 'float32', 'x')]
    if not with_inference:
        return
    for layer in model.sublayers():  # the exporter's folding; the output must stay the same
        if isinstance(layer, RepLayer):
            layer.rep()
    folded = model(paddle.to_tensor(x)).numpy()
    print(name, 'folded vs training form', float(np.abs(folded - y).max()))
    try:
        paddle.jit.save(model, os.path.join(out_dir, f'{name}_infer'), input_spec=spec)
    except Exception as exc:  # noqa: BLE001 - Paddle 3's old-program mode fails on many ops
        print(f'{name}: no inference model ({type(exc).__name__}); paddlepaddle 2.6 writes one')
    json_file = os.path.join(out_dir, f'{name}_infer.json')
    if os.path.exists(json_file):  # PIR format, not what the reader reads
        os.remove(json_file)
        os.remove(os.path.join(out_dir, f'{name}_infer.pdiparams'))
        print(f'{name}: Paddle wrote a PIR .json program; no .pdmodel (run with paddlepaddle 2.6)')
    info = os.path.join(out_dir, f'{name}_infer.pdiparams.info')
    if os.path.exists(info):  # the optimizer-side parameter info: not needed to read the weights
        os.remove(info)
    

# ------------------------------------------------------------------ classic PaddleOCR nets (DB mv3 / r18_vd, CRNN)
# det_mobilenet_v3 / rec_mobilenet_v3 cfg: kernel, expansion, channels, SE, activation, det stride
MV3 = {'large': ([(3, 16, 16, False, 'relu', 1), (3, 64, 24, False, 'relu', 2), (3, 72, 24, False, 'relu', 1),
                  (5, 72, 40, True, 'relu', 2), (5, 120, 40, True, 'relu', 1), (5, 120, 40, True, 'relu', 1),
                  (3, 240, 80, False, 'hardswish', 2), (3, 200, 80, False, 'hardswish', 1),
                  (3, 184, 80, False, 'hardswish', 1), (3, 184, 80, False, 'hardswish', 1),
                  (3, 480, 112, True, 'hardswish', 1), (3, 672, 112, True, 'hardswish', 1),
                  (5, 672, 160, True, 'hardswish', 2), (5, 960, 160, True, 'hardswish', 1),
                  (5, 960, 160, True, 'hardswish', 1)], 960, (0, 1, 3, 12)),
       'small': ([(3, 16, 16, True, 'relu', 2), (3, 72, 24, False, 'relu', 2), (3, 88, 24, False, 'relu', 1),
                  (5, 96, 40, True, 'hardswish', 2), (5, 240, 40, True, 'hardswish', 1),
                  (5, 240, 40, True, 'hardswish', 1), (5, 120, 48, True, 'hardswish', 1),
                  (5, 144, 48, True, 'hardswish', 1), (5, 288, 96, True, 'hardswish', 2),
                  (5, 576, 96, True, 'hardswish', 1), (5, 576, 96, True, 'hardswish', 1)], 576, (0, 1, 3, 8))}


def main(out_dir: str) -> None:
    """The PP-OCRv4 files: det.pdparams (+ det_infer.pdmodel / .pdiparams), rec.pdparams, det_io.npz, rec_io.npz."""
    os.makedirs(out_dir, exist_ok=True)
    paddle.seed(0)
    rng = np.random.default_rng(0)
    det_backbone = LCNetV3(0.125, det=True)
    det = Model(det_backbone, RSEFPN(det_backbone.out_channels, 16), DBHead(16))
    randomise(det, 1)
    save(det, rng.uniform(-1, 1, (1, 3, 64, 96)).astype('float32'), out_dir, 'det', with_inference=True)

    rec_backbone = LCNetV3(0.125, det=False)
    rec = Model(rec_backbone, None, MultiHeadCTC(rec_backbone.out_channels, 37, dims=32, hidden=32))
    randomise(rec, 2)
    save(rec, rng.uniform(-1, 1, (2, 3, 48, 64)).astype('float32'), out_dir, 'rec', with_inference=False)
    for f in sorted(os.listdir(out_dir)):
        print(f, os.path.getsize(os.path.join(out_dir, f)))


def divisible8(v):
    return divisible(v, 8)


class MV3ConvBN(nn.Layer):  # ConvBNLayer of det_mobilenet_v3: conv, bn (+ relu / hardswish)
    def __init__(self, cin, cout, k, s=1, groups=1, act=None):
        super().__init__()
        self.act = act
        self.conv = nn.Conv2D(cin, cout, k, s, (k - 1) // 2, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm(cout)

    def forward(self, x):
        x = self.bn(self.conv(x))
        if self.act == 'relu':
            return F.relu(x)
        return F.hardswish(x) if self.act == 'hardswish' else x


class ResidualUnit(nn.Layer):
    def __init__(self, cin, mid, cout, k, s, se, act, dw_name='bottleneck_conv', se_name='mid_se'):
        super().__init__()
        self.shortcut = s == 1 and cin == cout
        self.names = dw_name, se_name if se else None
        self.expand_conv = MV3ConvBN(cin, mid, 1, act=act)
        setattr(self, dw_name, MV3ConvBN(mid, mid, k, s, groups=mid, act=act))
        if se:
            setattr(self, se_name, SE(mid, paddle_gate=True))
        self.linear_conv = MV3ConvBN(mid, cout, 1)

    def forward(self, x):
        y = getattr(self, self.names[0])(self.expand_conv(x))
        if self.names[1]:
            y = getattr(self, self.names[1])(y)
        y = self.linear_conv(y)
        return x + y if self.shortcut else y


class DetMobileNetV3(nn.Layer):  # det_mobilenet_v3: conv, stage0..stage3 (the last ends with the 1x1 conv)
    def __init__(self, model_name, scale):
        super().__init__()
        cfg, last, _ = MV3[model_name]
        start = 2 if model_name == 'large' else 0
        inplanes = divisible8(16 * scale)
        self.conv = MV3ConvBN(3, inplanes, 3, 2, act='hardswish')
        stages, blocks, self.out_channels = [], [], []
        for i, (k, e, c, se, act, s) in enumerate(cfg):
            if s == 2 and i > start:
                self.out_channels.append(inplanes)
                stages.append(blocks)
                blocks = []
            blocks.append(ResidualUnit(inplanes, divisible8(scale * e), divisible8(scale * c), k, s, se, act))
            inplanes = divisible8(scale * c)
        blocks.append(MV3ConvBN(inplanes, divisible8(scale * last), 1, act='hardswish'))
        stages.append(blocks)
        self.out_channels.append(divisible8(scale * last))
        self.stages = [nn.Sequential(*b) for b in stages]
        for i, st in enumerate(self.stages):
            self.add_sublayer(f'stage{i}', st)

    def forward(self, x):
        x = self.conv(x)
        outs = []
        for st in self.stages:
            x = st(x)
            outs.append(x)
        return outs


class RecMobileNetV3(nn.Layer):  # rec_mobilenet_v3: conv1, blocks, conv2, 2 x 2 max-pool; strides (s, 1)
    def __init__(self, model_name, scale, strides):
        super().__init__()
        cfg, last, at = MV3[model_name]
        inplanes = divisible8(16 * scale)
        self.conv1 = MV3ConvBN(3, inplanes, 3, 2, act='hardswish')
        blocks = []
        for i, (k, e, c, se, act, _) in enumerate(cfg):
            s = 1
            if i in at:
                j = at.index(i)
                s = strides[j] if (model_name == 'large' and j == 0) else (strides[j], 1)
            blocks.append(ResidualUnit(inplanes, divisible8(scale * e), divisible8(scale * c), k, s, se, act))
            inplanes = divisible8(scale * c)
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = MV3ConvBN(inplanes, divisible8(scale * last), 1, act='hardswish')
        self.out_channels = divisible8(scale * last)

    def forward(self, x):
        return F.max_pool2d(self.conv2(self.blocks(self.conv1(x))), 2, 2)


class ClasMobileNetV3(nn.Layer):
    """PaddleClas 2.0's ImageNet MobileNetV3 (conv1, conv2 ... conv{n+1} = the blocks, last_second_conv, last_conv,
    out); forward returns the features where the det backbone's stages end (the last after last_second_conv)."""

    def __init__(self, model_name, scale, classes=10):
        super().__init__()
        cfg, last, _ = MV3[model_name]
        inplanes = divisible8(16 * scale)
        self.conv1 = MV3ConvBN(3, inplanes, 3, 2, act='hardswish')
        self.ends = []
        start = 2 if model_name == 'large' else 0
        self.nblocks = len(cfg)
        for i, (k, e, c, se, act, s) in enumerate(cfg):
            if s == 2 and i > start:
                self.ends.append(i - 1)
            self.add_sublayer(f'conv{i + 2}', ResidualUnit(inplanes, divisible8(scale * e), divisible8(scale * c),
                                                           k, s, se, act))
            inplanes = divisible8(scale * c)
        self.last_second_conv = MV3ConvBN(inplanes, divisible8(scale * last), 1, act='hardswish')
        self.last_conv = nn.Conv2D(divisible8(scale * last), 32, 1, bias_attr=False)
        self.out = nn.Linear(32, classes)

    def forward(self, x):
        x = self.conv1(x)
        feats = []
        for i in range(self.nblocks):
            x = getattr(self, f'conv{i + 2}')(x)
            if i in self.ends:
                feats.append(x)
        feats.append(self.last_second_conv(x))
        return feats


class VdConvBN(nn.Layer):  # det_resnet_vd ConvBNLayer: (avg pool), _conv, _batch_norm (act inside)
    def __init__(self, cin, cout, k, s=1, act=None, vd=False):
        super().__init__()
        self.vd = vd
        self._pool2d_avg = nn.AvgPool2D(2, 2, 0, ceil_mode=True)
        self._conv = nn.Conv2D(cin, cout, k, s, (k - 1) // 2, bias_attr=False)
        self._batch_norm = nn.BatchNorm(cout, act=act)

    def forward(self, x):
        return self._batch_norm(self._conv(self._pool2d_avg(x) if self.vd else x))


class BasicBlock(nn.Layer):
    def __init__(self, cin, cout, s, shortcut, first):
        super().__init__()
        self.conv0 = VdConvBN(cin, cout, 3, s, act='relu')
        self.conv1 = VdConvBN(cout, cout, 3)
        self.shortcut = shortcut
        if not shortcut:
            self.short = VdConvBN(cin, cout, 1, vd=not first)

    def forward(self, x):
        return F.relu((x if self.shortcut else self.short(x)) + self.conv1(self.conv0(x)))


class ResNetVd(nn.Layer):  # det_resnet_vd, layers 18, at base width `base` (64 in PaddleOCR)
    def __init__(self, base=64):
        super().__init__()
        self.conv1_1 = VdConvBN(3, base // 2, 3, 2, act='relu')
        self.conv1_2 = VdConvBN(base // 2, base // 2, 3, act='relu')
        self.conv1_3 = VdConvBN(base // 2, base, 3, act='relu')
        self.stages, self.out_channels = [], []
        cin = base
        for b in range(4):
            blocks = []
            for i in range(2):
                block = BasicBlock(cin, base * 2 ** b, 2 if i == 0 and b else 1, shortcut=i > 0, first=b == i == 0)
                blocks.append(self.add_sublayer(f'bb_{b}_{i}', block))
                cin = base * 2 ** b
            self.stages.append(nn.Sequential(*blocks))
            self.out_channels.append(cin)

    def forward(self, x):
        x = F.max_pool2d(self.conv1_3(self.conv1_2(self.conv1_1(x))), 3, 2, 1)
        outs = []
        for st in self.stages:
            x = st(x)
            outs.append(x)
        return outs


class ClasConvBN(nn.Layer):  # PaddleClas legendary ResNet ConvBNLayer: avg_pool, conv, bn (+ relu)
    def __init__(self, cin, cout, k, s=1, act=False, vd=False):
        super().__init__()
        self.vd, self.act = vd, act
        self.avg_pool = nn.AvgPool2D(2, s, 0, ceil_mode=True)
        self.conv = nn.Conv2D(cin, cout, k, 1 if vd else s, (k - 1) // 2, bias_attr=False)
        self.bn = nn.BatchNorm(cout)

    def forward(self, x):
        x = self.bn(self.conv(self.avg_pool(x) if self.vd else x))
        return F.relu(x) if self.act else x


class ClasBasicBlock(nn.Layer):
    def __init__(self, cin, cout, s, shortcut, first):
        super().__init__()
        self.conv0 = ClasConvBN(cin, cout, 3, s, act=True)
        self.conv1 = ClasConvBN(cout, cout, 3)
        self.shortcut = shortcut
        if not shortcut:
            self.short = ClasConvBN(cin, cout, 1, s, vd=not first)

    def forward(self, x):
        return F.relu(self.conv1(self.conv0(x)) + (x if self.shortcut else self.short(x)))


class ClasResNet18Vd(nn.Layer):
    """PaddleClas's legendary ResNet18_vd (stem.0-2, max_pool, blocks.0-7, fc) at base width `base`; forward returns
    the four stage outputs."""

    def __init__(self, base, classes=10):
        super().__init__()
        self.stem = nn.Sequential(ClasConvBN(3, base // 2, 3, 2, act=True),
                                  ClasConvBN(base // 2, base // 2, 3, act=True),
                                  ClasConvBN(base // 2, base, 3, act=True))
        blocks, cin = [], base
        for b in range(4):
            for i in range(2):
                blocks.append(ClasBasicBlock(cin, base * 2 ** b, 2 if i == 0 and b else 1, shortcut=i > 0,
                                             first=b == i == 0))
                cin = base * 2 ** b
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        feats = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i % 2:
                feats.append(x)
        return feats


class DBFPN(nn.Layer):  # in2..in5_conv (1x1), p2..p5_conv (3x3), all without bias; concat p5, p4, p3, p2
    def __init__(self, in_channels, out_channels):
        super().__init__()
        for i, c in zip((2, 3, 4, 5), in_channels):
            setattr(self, f'in{i}_conv', nn.Conv2D(c, out_channels, 1, bias_attr=False))
        for i in (5, 4, 3, 2):
            setattr(self, f'p{i}_conv', nn.Conv2D(out_channels, out_channels // 4, 3, padding=1, bias_attr=False))

    def forward(self, x):
        c2, c3, c4, c5 = x
        in5, in4, in3, in2 = self.in5_conv(c5), self.in4_conv(c4), self.in3_conv(c3), self.in2_conv(c2)
        out4 = in4 + F.upsample(in5, scale_factor=2, mode='nearest')
        out3 = in3 + F.upsample(out4, scale_factor=2, mode='nearest')
        out2 = in2 + F.upsample(out3, scale_factor=2, mode='nearest')
        p5 = F.upsample(self.p5_conv(in5), scale_factor=8, mode='nearest')
        p4 = F.upsample(self.p4_conv(out4), scale_factor=4, mode='nearest')
        p3 = F.upsample(self.p3_conv(out3), scale_factor=2, mode='nearest')
        return paddle.concat([p5, p4, p3, self.p2_conv(out2)], axis=1)


class EncoderWithRNN(nn.Layer):
    def __init__(self, cin, hidden):
        super().__init__()
        self.lstm = nn.LSTM(cin, hidden, direction='bidirectional', num_layers=2)

    def forward(self, x):
        return self.lstm(x)[0]


class RNNSequenceEncoder(nn.Layer):  # SequenceEncoder(encoder_type='rnn'): Im2Seq, then encoder
    def __init__(self, cin, hidden):
        super().__init__()
        self.encoder = EncoderWithRNN(cin, hidden)

    def forward(self, x):
        return self.encoder(x.squeeze(2).transpose([0, 2, 1]))


def round_fp16(model: nn.Layer) -> None:
    """Every weight made exactly representable in float16, so the files can be stored in float16 (half the size)
    while Paddle computes the outputs with the very same values in float32."""
    for _, p in model.state_dict().items():
        if p.dtype == paddle.float32:
            p.set_value(p.numpy().astype('float16').astype('float32'))


def save_classic(model, x, out_dir, name, io) -> None:
    model.eval()
    y = model(paddle.to_tensor(x))
    for i, v in enumerate(y if isinstance(y, (list, tuple)) else [y]):
        io[f'{name}_y{i}'] = v.numpy()
    paddle.save({k: v.numpy().astype('float16') if v.dtype == paddle.float32 else v.numpy()
                 for k, v in model.state_dict().items()}, os.path.join(out_dir, f'{name}.pdparams'))
    print(name, [v.shape for k, v in io.items() if k.startswith(name)])


def main_classic(out_dir: str) -> None:
    """det_mv3_db (MobileNetV3 large x0.35, DBFPN 32), det_r18_vd_db (ResNet18_vd at width 4, DBFPN 32), CRNN
    (rec MobileNetV3 small x0.35 with small_stride [1, 2, 2, 2], BiLSTM 16, CTC 37; on the input's top 32 rows) and
    two PaddleClas-layout ImageNet backbones
    (``clas_mv3``: 2.0 layout, small x0.35; ``clas_r18vd``: legendary layout, width 4), their weights stored in
    float16 (exactly: they are rounded to float16 first); the inputs and Paddle's outputs in ``classic_io.npz``
    (``x``: 1 x 3 x 64 x 64 for every net; ``{name}_y{i}``: DB probability logits, CTC logits,
    the backbones' four stage outputs)."""
    paddle.seed(0)
    rng = np.random.default_rng(10)
    io = dict(x=rng.uniform(-1, 1, (1, 3, 64, 64)).astype('float32'))  # one input for all (small files)
    for name, backbone in (('det_mv3', DetMobileNetV3('large', 0.35)), ('det_r18vd', ResNetVd(4))):
        model = Model(backbone, DBFPN(backbone.out_channels, 32), DBHead(32))
        randomise(model, 3)
        round_fp16(model)
        save_classic(model, io['x'], out_dir, name, io)
    backbone = RecMobileNetV3('small', 0.35, [1, 2, 2, 2])  # 32-pixel lines: the input's top half
    rec = Model(backbone, RNNSequenceEncoder(backbone.out_channels, 16), CTCHead(32, 37))
    randomise(rec, 4)
    round_fp16(rec)
    save_classic(rec, io['x'][:, :, :32], out_dir, 'rec_mv3', io)
    for name, net in (('clas_mv3', ClasMobileNetV3('small', 0.35)), ('clas_r18vd', ClasResNet18Vd(4))):
        randomise(net, 5)
        round_fp16(net)
        save_classic(net, io['x'], out_dir, name, io)
    np.savez_compressed(os.path.join(out_dir, 'classic_io.npz'), **io)


# ------------------------------------------------------------- classic SVTR (rec_svtrnet: SVTRNet -> reshape -> CTC)
# Written from PaddleOCR's SVTRNet behaviour: parameter names (patch_embed.proj.<i>.{conv,norm}, pos_embed,
# blocks<s>.<i>.{norm1,mixer.{qkv,proj | local_mixer},norm2,mlp.fc1,mlp.fc2}, sub_sample<s>.{conv | proj},norm,
# norm (when not prenorm), last_conv) and the forward: conv patch embedding with biased convs, post-norm blocks
# when prenorm, a final LayerNorm otherwise, adaptive pooling to out_char_num columns, 1x1 conv, hardswish and a
# "downscale_in_infer" dropout (eval: x * (1 - last_drop)).

class SVTRConvBN(nn.Layer):  # Conv2D (with bias) -> BatchNorm2D -> GELU
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2D(cin, cout, 3, 2, 1)
        self.norm = nn.BatchNorm2D(cout)

    def forward(self, x):
        return F.gelu(self.norm(self.conv(x)))


class SVTRPatchEmbed(nn.Layer):
    def __init__(self, cin, dim, sub_num):
        super().__init__()
        widths = [dim // 2 ** (sub_num - 1 - i) for i in range(sub_num)]
        self.proj = nn.Sequential(*[SVTRConvBN(c, w) for c, w in zip([cin] + widths[:-1], widths)])

    def forward(self, x):
        return self.proj(x).flatten(2).transpose([0, 2, 1])


class SVTRAttention(nn.Layer):
    def __init__(self, dim, heads, kind, hw, window):
        super().__init__()
        self.heads, self.dim, self.kind = heads, dim, kind
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        if kind == 'Local':  # key (k, l) visible from query (i, j) iff it lies in the window placed at (i, j)
            h, w = hw
            hk, wk = window
            allowed = np.zeros((h * w, h * w), 'float32')
            for i in range(h):
                for j in range(w):
                    full = np.ones((h + hk - 1, w + wk - 1), 'float32')
                    full[i:i + hk, j:j + wk] = 0
                    allowed[i * w + j] = full[hk // 2:h + hk // 2, wk // 2:w + wk // 2].reshape(-1)
            self.mask = paddle.to_tensor(np.where(allowed < 1, 0.0, -np.inf).astype('float32'))[None, None]

    def forward(self, x):
        n, t = x.shape[0], x.shape[1]
        qkv = self.qkv(x).reshape([n, t, 3, self.heads, self.dim // self.heads]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q.matmul(k.transpose([0, 1, 3, 2]))
        if self.kind == 'Local':
            attn = attn + self.mask
        attn = F.softmax(attn, axis=-1)
        return self.proj(attn.matmul(v).transpose([0, 2, 1, 3]).reshape([n, t, self.dim]))


class SVTRConvMixer(nn.Layer):
    def __init__(self, dim, heads, hw, window):
        super().__init__()
        self.hw, self.dim = hw, dim
        self.local_mixer = nn.Conv2D(dim, dim, window, 1, [window[0] // 2, window[1] // 2], groups=heads)

    def forward(self, x):
        y = self.local_mixer(x.transpose([0, 2, 1]).reshape([x.shape[0], self.dim, *self.hw]))
        return y.flatten(2).transpose([0, 2, 1])


class SVTRMlp(nn.Layer):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SVTRNetBlock(nn.Layer):
    def __init__(self, dim, heads, kind, hw, window, prenorm):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=1e-6)
        self.mixer = SVTRConvMixer(dim, heads, hw, window) if kind == 'Conv' else \
            SVTRAttention(dim, heads, kind, hw, window)
        self.norm2 = nn.LayerNorm(dim, epsilon=1e-6)
        self.mlp = SVTRMlp(dim, dim * 4)
        self.prenorm = prenorm

    def forward(self, x):
        if self.prenorm:  # PaddleOCR's flag name: the norm after the residual sum
            x = self.norm1(x + self.mixer(x))
            return self.norm2(x + self.mlp(x))
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SVTRSubSample(nn.Layer):  # height halved: 3x3 conv (stride (2, 1)) or the mean of 3x5 avg / max pools + proj
    def __init__(self, cin, cout, kind):
        super().__init__()
        self.kind = kind
        if kind == 'Pool':
            self.proj = nn.Linear(cin, cout)
        else:
            self.conv = nn.Conv2D(cin, cout, 3, [2, 1], 1)
        self.norm = nn.LayerNorm(cout)  # Paddle's default epsilon (1e-5)

    def forward(self, x):
        if self.kind == 'Pool':
            x = (F.avg_pool2d(x, [3, 5], [2, 1], [1, 2]) + F.max_pool2d(x, [3, 5], [2, 1], [1, 2])) * 0.5
            return self.norm(self.proj(x.flatten(2).transpose([0, 2, 1])))
        return self.norm(self.conv(x).flatten(2).transpose([0, 2, 1]))


class SVTRNet(nn.Layer):
    def __init__(self, img_size, dims, depth, heads, mixer, windows, merging, prenorm, out_channels,
                 out_char_num, last_drop=0.1, sub_num=2):
        super().__init__()
        self.dims, self.prenorm, self.out_char_num, self.last_drop = dims, prenorm, out_char_num, last_drop
        self.patch_embed = SVTRPatchEmbed(3, dims[0], sub_num)
        self.hw = [img_size[0] // 2 ** sub_num, img_size[1] // 2 ** sub_num]
        self.pos_embed = self.create_parameter([1, self.hw[0] * self.hw[1], dims[0]],
                                               default_initializer=nn.initializer.Constant(0.0))
        self.merging = merging
        b = 0
        for s in range(3):
            hw = [self.hw[0] // 2 ** s, self.hw[1]]
            setattr(self, f'blocks{s + 1}', nn.LayerList(
                [SVTRNetBlock(dims[s], heads[s], mixer[b + i], hw, windows[s], prenorm) for i in range(depth[s])]))
            b += depth[s]
            if s < 2:
                setattr(self, f'sub_sample{s + 1}', SVTRSubSample(dims[s], dims[s + 1], merging))
        self.last_conv = nn.Conv2D(dims[2], out_channels, 1, bias_attr=False)
        if not prenorm:
            self.norm = nn.LayerNorm(dims[2], epsilon=1e-6)

    def forward(self, x):
        x = self.patch_embed(x) + self.pos_embed
        for s in range(3):
            for blk in getattr(self, f'blocks{s + 1}'):
                x = blk(x)
            if s < 2:
                h = self.hw[0] // 2 ** s
                x = getattr(self, f'sub_sample{s + 1}')(
                    x.transpose([0, 2, 1]).reshape([x.shape[0], self.dims[s], h, self.hw[1]]))
        if not self.prenorm:
            x = self.norm(x)
        x = x.transpose([0, 2, 1]).reshape([x.shape[0], self.dims[2], self.hw[0] // 4, self.hw[1]])
        x = F.adaptive_avg_pool2d(x, [1, self.out_char_num])
        x = F.hardswish(self.last_conv(x))
        return x * (1.0 - self.last_drop)  # Dropout(mode='downscale_in_infer') in eval mode


class Im2Seq(nn.Layer):  # SequenceEncoder(encoder_type='reshape'): N x C x 1 x W -> N x W x C
    def forward(self, x):
        return x.squeeze(2).transpose([0, 2, 1])


def randomise_svtr(model: nn.Layer, seed: int) -> None:
    """Weights of a visible size (PaddleOCR's 0.02 initial std would leave attention near uniform): each weight
    ~ N(0, 1 / fan_in), the positional embedding ~ N(0, 0.5); then :func:`randomise` for norms and biases."""
    rng = np.random.default_rng(seed)
    for name, p in model.state_dict().items():
        if name.endswith('pos_embed'):
            p.set_value(rng.normal(0, 0.5, p.shape).astype('float32'))
        elif name.endswith('weight') and p.ndim >= 2:
            fan_in = p.shape[0] if p.ndim == 2 else int(np.prod(p.shape[1:]))  # Linear: [in, out]
            gain = 6.0 if name.startswith('head.') else 1.0  # a peaked CTC softmax: the decoding is decided
            p.set_value(rng.normal(0, gain * fan_in ** -0.5, p.shape).astype('float32'))
    randomise(model, seed + 1)


# PaddleOCR's CTCLabelDecode without a dictionary file: blank, then 0-9a-z
SVTR_CHARS = '0123456789abcdefghijklmnopqrstuvwxyz'
SVTR_CASES = {  # name: SVTRNet arguments (rec_svtrnet.yml's keys) at tiny widths
    'rec_svtr': dict(img_size=[32, 100], dims=[16, 32, 48], depth=[1, 1, 1], heads=[2, 4, 6],
                     mixer=['Local', 'Conv', 'Global'], windows=[[7, 11], [5, 9], [3, 5]], merging='Conv',
                     prenorm=False, out_channels=48, out_char_num=25),
    'rec_svtr_pool': dict(img_size=[32, 100], dims=[8, 16, 24], depth=[1, 1, 1], heads=[2, 2, 4],
                          mixer=['Local', 'Local', 'Global'], windows=[[7, 11], [7, 11], [7, 11]], merging='Pool',
                          prenorm=True, out_channels=24, out_char_num=12),
}


def ctc_greedy(probs: np.ndarray) -> list[str]:
    """PaddleOCR's CTCLabelDecode: argmax per frame, repeats merged, blanks (index 0) dropped."""
    out = []
    for idx in probs.argmax(-1):
        keep = [i for t, i in enumerate(idx) if i != 0 and (t == 0 or i != idx[t - 1])]
        out.append(''.join(SVTR_CHARS[i - 1] for i in keep))
    return out


def main_svtr(out_dir: str) -> None:
    """rec_svtrnet (SVTRNet -> SequenceEncoder reshape -> CTCHead 37) at tiny widths, two variants (see
    :data:`SVTR_CASES`: the config's post-norm-free ``prenorm: false`` with Conv merging and a Conv mixer, and
    ``prenorm: true`` with Pool merging and 12 output columns); weights stored in float16 after rounding. Writes
    ``{name}.pdparams`` and ``svtr_io.npz`` (``x``: 2 x 3 x 32 x 100, float16 values; ``{name}_prob``: PaddleOCR's
    eval output, the CTC softmax, N x T x 37; ``{name}_text``: its greedy decoding)."""
    paddle.seed(0)
    rng = np.random.default_rng(20)
    io = dict(x=rng.uniform(-1, 1, (2, 3, 32, 100)).astype('float16'))  # float16: half the file
    x = paddle.to_tensor(io['x'].astype('float32'))
    for i, (name, args) in enumerate(SVTR_CASES.items()):
        model = Model(SVTRNet(**args), Im2Seq(), CTCHead(args['out_channels'], 1 + len(SVTR_CHARS)))
        randomise_svtr(model, 30 + i)
        round_fp16(model)
        model.eval()
        prob = F.softmax(model(x), axis=2).numpy()
        io[f'{name}_prob'] = prob
        io[f'{name}_text'] = np.array(ctc_greedy(prob))
        paddle.save({k: v.numpy().astype('float16') if v.dtype == paddle.float32 else v.numpy()
                     for k, v in model.state_dict().items()}, os.path.join(out_dir, f'{name}.pdparams'))
        print(name, prob.shape, io[f'{name}_text'], 'max prob', float(prob.max()))
    np.savez_compressed(os.path.join(out_dir, 'svtr_io.npz'), **io)


if __name__ == '__main__':
    args = [a for a in sys.argv[1:] if a not in ('--classic', '--svtr')]
    target = args[0] if args else os.path.join(os.path.dirname(__file__), '..', 'data', 'reference', 'paddle')
    os.makedirs(target, exist_ok=True)
    if '--svtr' in sys.argv:  # only the SVTR nets of tests/tasks/textrecog/test_paddle_svtr_parity.py
        main_svtr(target)
    elif '--classic' in sys.argv:  # only the classic nets (the PP-OCRv4 files stay as they are)
        main_classic(target)
    else:
        main(target)
        main_classic(target)
