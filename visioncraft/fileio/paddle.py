"""PaddlePaddle weight files read without PaddlePaddle, and their parameter names turned into ours.

Three files PaddleOCR hands out:

* ``.pdparams`` (training checkpoints, ``paddle.save`` of a state dict): a pickle (protocol 2-4) of a dict
  ``name -> numpy array``. :func:`load_pdparams` unpickles it with an unpickler that only lets numpy arrays and
  plain containers be rebuilt (:class:`RestrictedUnpickler`); any other global (a class, a function) is refused
  with :class:`PaddleFormatError` naming the file and the global, so a crafted file cannot run code.
* ``.pdmodel`` (inference program, a protobuf ``ProgramDesc``): :func:`read_program_vars` decodes the few fields it
  needs (blocks -> vars -> name, type, persistable, tensor dtype and dims) with a minimal protobuf wire-format
  reader; no generated code, no ``.proto`` file.
* ``.pdiparams`` (inference weights): every persistable LoD tensor of the program, in sorted name order, each as
  ``uint32 version, uint64 lod levels (+ each level's byte size and data), uint32 version, int32 desc size,
  TensorDesc protobuf, raw little-endian data``. :func:`load_inference_model` reads them against the program.

:func:`load_paddle_weights` reads any of them into ``{name: numpy array}``, :func:`paddle_to_torch_state_dict`
renames PaddleOCR's parameters to ours (PP-OCRv4 mobile det / rec, PPMobileNetV3 classifiers; see the rules) and
transposes Paddle's ``[in, out]`` linear weights. :func:`~visioncraft.fileio.checkpoint.load_checkpoint_file` and
:func:`~visioncraft.fileio.checkpoint.load_model_weights` use them, so every loading path takes a ``.pdparams``.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError

__all__ = ['PaddleFormatError', 'RestrictedUnpickler', 'load_pdparams', 'PaddleVar', 'read_program_vars',
           'read_pdiparams', 'load_inference_model', 'load_paddle_weights', 'is_paddle_file', 'is_paddle_state_dict',
           'paddle_to_torch_state_dict', 'PaddleConversion', 'PADDLE_SUFFIXES']

#: the file name endings of Paddle's weight files
PADDLE_SUFFIXES = ('.pdparams', '.pdmodel', '.pdiparams')


class PaddleFormatError(CheckpointError, ValueError):
    """A Paddle weight file that cannot be read (truncated, not the format, or a pickle with a forbidden global)."""


# ------------------------------------------------------------------------------------------------ .pdparams

#: (module, name) pairs a .pdparams pickle may name: numpy array reconstruction and plain containers
_ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('collections', 'OrderedDict'),
    ('builtins', 'dict'), ('builtins', 'list'), ('builtins', 'tuple'), ('builtins', 'set'), ('builtins', 'frozenset'),
    ('builtins', 'bytearray'), ('builtins', 'complex'), ('_codecs', 'encode'),  # protocol 2 pickles bytes this way
    ('copyreg', '_reconstructor'), ('builtins', 'object'),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for ``.pdparams``: only the globals numpy arrays and plain containers need
    (:data:`_ALLOWED_GLOBALS`); anything else is a :class:`PaddleFormatError` naming the file and the global."""

    def __init__(self, file, source: str = '<pdparams>') -> None:
        super().__init__(file, encoding='latin1')
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ('copyreg', '_reconstructor'):
            return _safe_reconstructor
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise PaddleFormatError(f'{self.source}: the pickle names the global {module}.{name}, which a Paddle weight '
                                f'file has no use for; refusing to load it (only numpy arrays and plain containers '
                                f'are allowed)')


def _safe_reconstructor(cls, base, state):
    """copyreg's reconstructor (protocol < 2 objects), limited to numpy arrays."""
    if not (isinstance(cls, type) and issubclass(cls, np.ndarray)):
        raise PaddleFormatError(f'the pickle rebuilds an object of {cls!r}; only numpy arrays are allowed')
    return np.ndarray.__new__(cls, *state) if state else np.ndarray.__new__(cls, 0)


def load_pdparams(path: str | os.PathLike) -> 'OrderedDict[str, np.ndarray]':
    """The ``name -> numpy array`` dict of a ``.pdparams`` file (:class:`RestrictedUnpickler`). Paddle's
    ``StructuredToParameterName@@`` table, when present, is dropped; a file that is not such a dict is a
    :class:`PaddleFormatError` naming it."""
    path = str(path)
    with open(path, 'rb') as f:
        data = f.read()
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), path).load()
    except PaddleFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or not a pickle
        raise PaddleFormatError(f'{path}: not a readable .pdparams pickle ({type(exc).__name__}: {exc})') from None
    if not isinstance(obj, dict):
        raise PaddleFormatError(f'{path}: a .pdparams file holds a dict of arrays; this one holds a '
                                f'{type(obj).__name__}')
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for k, v in obj.items():
        if k == 'StructuredToParameterName@@':
            continue
        if not isinstance(v, np.ndarray):
            raise PaddleFormatError(f'{path}: entry {k!r} is a {type(v).__name__}, not an array')
        out[str(k)] = v
    if not out:
        raise PaddleFormatError(f'{path}: holds no arrays')
    return out


# ------------------------------------------------------------------------------------------- protobuf reading

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError('truncated varint')
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError('varint too long')


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of one protobuf message: ints for varints / fixed, bytes for
    length-delimited fields (sub-messages, strings, packed lists)."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 1:
            val, pos = struct.unpack_from('<q', buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError('truncated length-delimited field')
            val, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            val, pos = struct.unpack_from('<i', buf, pos)[0], pos + 4
        else:
            raise ValueError(f'unsupported wire type {wire}')
        out.append((num, wire, val))
    return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# Paddle's VarType.Type values for tensor element types and the variable kinds we skip
_DTYPES = {0: np.bool_, 1: np.int16, 2: np.int32, 3: np.int64, 4: np.float16, 5: np.float32, 6: np.float64,
           20: np.uint8, 21: np.int8, 23: np.complex64, 24: np.complex128}
_BF16 = 22
_LOD_TENSOR = 7


@dataclass
class PaddleVar:
    """A variable of a ``ProgramDesc``: its name, Paddle type number (7: LoD tensor), persistable flag, element
    data type number (5: float32) and dims (-1 for a free batch size)."""

    name: str
    type: int
    persistable: bool = False
    dtype: int | None = None
    dims: list[int] = field(default_factory=list)


def _tensor_desc(buf: bytes) -> tuple[int | None, list[int]]:
    """``(data type, dims)`` of a ``TensorDesc`` (field 1: data_type, field 2: dims, packed or not)."""
    dtype, dims = None, []
    for num, wire, val in _fields(buf):
        if num == 1 and wire == 0:
            dtype = val
        elif num == 2 and wire == 0:
            dims.append(_signed64(val))
        elif num == 2 and wire == 2:
            pos = 0
            while pos < len(val):
                d, pos = _varint(val, pos)
                dims.append(_signed64(d))
    return dtype, dims


def _var_desc(buf: bytes) -> PaddleVar:
    name, vtype, persistable, dtype, dims = '', -1, False, None, []
    for num, wire, val in _fields(buf):
        if num == 1 and wire == 2:
            name = val.decode('utf-8')
        elif num == 3 and wire == 0:
            persistable = bool(val)
        elif num == 2 and wire == 2:  # VarType: type = 1, lod_tensor = 3 (LoDTensorDesc: tensor = 1)
            for tnum, twire, tval in _fields(val):
                if tnum == 1 and twire == 0:
                    vtype = tval
                elif tnum == 3 and twire == 2:
                    for lnum, lwire, lval in _fields(tval):
                        if lnum == 1 and lwire == 2:
                            dtype, dims = _tensor_desc(lval)
    return PaddleVar(name, vtype, persistable, dtype, dims)


def read_program_vars(path: str | os.PathLike) -> list[PaddleVar]:
    """Every variable of every block of the ``ProgramDesc`` in ``path`` (a ``.pdmodel``), in file order.
    (``ProgramDesc``: blocks = 1; ``BlockDesc``: vars = 3; ``VarDesc``: name = 1, type = 2, persistable = 3.)"""
    path = str(path)
    with open(path, 'rb') as f:
        data = f.read()
    if data.lstrip()[:1] == b'{':
        raise PaddleFormatError(f'{path}: a PIR JSON program (Paddle 3 saves those by default), not a ProgramDesc; '
                                'export with paddlepaddle 2.x or FLAGS_enable_pir_api=0, or give the .pdparams')
    try:
        out = []
        for num, wire, block in _fields(data):
            if num != 1 or wire != 2:
                continue
            for bnum, bwire, var in _fields(block):
                if bnum == 3 and bwire == 2:
                    out.append(_var_desc(var))
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise PaddleFormatError(f'{path}: not a readable Paddle ProgramDesc (.pdmodel): {exc}') from None
    if not out:
        raise PaddleFormatError(f'{path}: holds no program variables (not a .pdmodel?)')
    return out


# ------------------------------------------------------------------------------------------------ .pdiparams

def _read_tensor(data: bytes, pos: int, source: str, name: str) -> tuple[np.ndarray, int]:
    def take(fmt):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise PaddleFormatError(f'{source}: ends inside the header of tensor {name!r} (byte {pos})')
        val = struct.unpack_from(fmt, data, pos)
        pos += size
        return val[0]

    take('<I')  # LoD tensor version
    for _ in range(take('<Q')):  # LoD levels: byte size, then the offsets (not needed for weights)
        pos += take('<Q')
    take('<I')  # tensor version
    desc_size = take('<i')
    if desc_size < 0 or pos + desc_size > len(data):
        raise PaddleFormatError(f'{source}: tensor {name!r} has a bad TensorDesc size {desc_size} (byte {pos})')
    dtype_no, dims = _tensor_desc(data[pos:pos + desc_size])
    pos += desc_size
    if dtype_no == _BF16:
        nbytes = 2 * int(np.prod(dims, dtype=np.int64))
        raw = np.frombuffer(data, np.uint16, nbytes // 2, pos).astype(np.uint32) << 16
        arr = raw.view(np.float32).reshape(dims)
    else:
        if dtype_no not in _DTYPES:
            raise PaddleFormatError(f'{source}: tensor {name!r} has the Paddle data type {dtype_no}, not supported')
        dt = np.dtype(_DTYPES[dtype_no]).newbyteorder('<')
        count = int(np.prod(dims, dtype=np.int64))
        nbytes = count * dt.itemsize
        if pos + nbytes > len(data):
            raise PaddleFormatError(f'{source}: ends inside the data of tensor {name!r} ({nbytes} bytes from byte '
                                    f'{pos}, {len(data) - pos} left)')
        arr = np.frombuffer(data, dt, count, pos).reshape(dims).astype(dt.newbyteorder('='))
    return arr, pos + nbytes


def read_pdiparams(path: str | os.PathLike, names: list[str]) -> 'OrderedDict[str, np.ndarray]':
    """The tensors of a ``.pdiparams`` file, one per name of ``names`` (in file order: the program's persistable
    variables sorted by name). Fewer or more bytes than those tensors is a :class:`PaddleFormatError`."""
    path = str(path)
    with open(path, 'rb') as f:
        data = f.read()
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    pos = 0
    for name in names:
        out[name], pos = _read_tensor(data, pos, path, name)
    if pos != len(data):
        raise PaddleFormatError(f'{path}: {len(data) - pos} bytes left after the {len(names)} tensors the program '
                                'names (a .pdiparams of another model?)')
    return out


def load_inference_model(model_path: str | os.PathLike, params_path: str | os.PathLike | None = None
                         ) -> 'OrderedDict[str, np.ndarray]':
    """The weights of a Paddle inference model (``X.pdmodel`` + ``X.pdiparams``, the latter found next to the
    former when not given): ``{variable name: array}``, each checked against the shape and type the program
    declares."""
    model_path = Path(model_path)
    params_path = Path(params_path) if params_path is not None else model_path.with_suffix('.pdiparams')
    if not params_path.is_file():
        raise FileNotFoundError(f'{model_path}: its weights {params_path} are missing (an inference model is a '
                                '.pdmodel and a .pdiparams of the same name)')
    pvars = {v.name: v for v in read_program_vars(model_path) if v.persistable and v.type == _LOD_TENSOR}
    names = sorted(pvars)
    out = read_pdiparams(params_path, names)
    for name, arr in out.items():
        want = pvars[name].dims
        if want and list(arr.shape) != want:
            raise PaddleFormatError(f'{params_path}: tensor {name!r} has shape {list(arr.shape)}, the program '
                                    f'{model_path} declares {want}')
    return out


def is_paddle_file(path: str | os.PathLike) -> bool:
    return str(path).endswith(PADDLE_SUFFIXES)


def load_paddle_weights(path: str | os.PathLike) -> 'OrderedDict[str, np.ndarray]':
    """``{name: array}`` of a ``.pdparams`` checkpoint or a ``.pdmodel`` / ``.pdiparams`` inference model.
    Inference models name their tensors by the program (``conv2d_0.w_0``, ...), not by the layer path: they load
    by name only into models exported with the layer names kept; :func:`paddle_to_torch_state_dict` says so."""
    path = str(path)
    if path.endswith('.pdparams'):
        return load_pdparams(path)
    if path.endswith('.pdmodel'):
        return load_inference_model(path)
    if path.endswith('.pdiparams'):
        program = path[:-len('.pdiparams')] + '.pdmodel'
        if not os.path.isfile(program):
            raise FileNotFoundError(f'{path}: its program {program} is missing (an inference model is a .pdmodel and '
                                    'a .pdiparams of the same name)')
        return load_inference_model(program, path)
    raise PaddleFormatError(f'{path}: not a Paddle weight file (expected one of {", ".join(PADDLE_SUFFIXES)})')


# ------------------------------------------------------------------------------------- names: Paddle -> ours

def is_paddle_state_dict(state_dict: Any) -> bool:
    """True for a state dict with Paddle's parameter names (BatchNorm statistics ``._mean`` / ``._variance``)."""
    return isinstance(state_dict, dict) and any(
        isinstance(k, str) and k.endswith(('._mean', '._variance')) for k in state_dict)


#: PaddleOCR path -> ours, tried in order on each name; a rule applies when its result (after every later
#: rule) names a weight of the model. ``None`` drops the name (PaddleOCR's training-only extras).
_PREFIX_RULES: list[tuple[str, str]] = [
    # DBHead: two Head()s (conv1, conv_bn1, conv2, conv_bn2, conv3) -> our nn.Sequential branches
    (r'^head\.binarize\.', 'det_head.binarize.'), (r'^head\.thresh\.', 'det_head.threshold.'),
    # MultiHead (PP-OCRv4 rec): the CTC branch's SVTR neck and CTC head; the NRTR branch
    (r'^head\.ctc_encoder\.encoder\.', 'encoder.'), (r'^head\.ctc_head\.', 'decoder.'),
    (r'^head\.before_gtc\.1\.fc\.', 'before_gtc.'), (r'^head\.gtc_head\.', 'gtc_head.'),
    # rec_svtrnet's SVTRNet -> SVTREncoder (MMOCR's names): the patch embedding's ConvBNLayers, the positional
    # embedding, the stage merges and the final norm
    (r'^backbone\.patch_embed\.proj\.(\d+)\.conv\.', r'backbone.patch_embed.net.ConvModule\1.conv.'),
    (r'^backbone\.patch_embed\.proj\.(\d+)\.norm\.', r'backbone.patch_embed.net.ConvModule\1.bn.'),
    (r'^backbone\.pos_embed$', 'backbone.absolute_pos_embed'),
    (r'^backbone\.sub_sample(\d+)\.', r'backbone.downsample\1.'),
    (r'^backbone\.norm\.', 'backbone.layer_norm.'),
    # CTC-only recognisers: SequenceEncoder neck, CTCHead
    (r'^neck\.encoder\.', 'encoder.'), (r'^head\.', 'decoder.'), (r'^head\.', 'head.'), (r'^head\.', 'det_head.'),
]
_INNER_RULES: list[tuple[str, str]] = [
    (r'\.(binarize|threshold)\.conv1\.', r'.\1.0.'), (r'\.(binarize|threshold)\.conv_bn1\.', r'.\1.1.'),
    (r'\.(binarize|threshold)\.conv2\.', r'.\1.3.'), (r'\.(binarize|threshold)\.conv_bn2\.', r'.\1.4.'),
    (r'\.(binarize|threshold)\.conv3\.', r'.\1.6.'),
    (r'^encoder\.(conv\d|conv1x1)\.norm\.', r'encoder.\1.bn.'),  # rec_svtrnet ConvBNLayer: conv, norm
    (r'^encoder\.svtr_block\.(\d+)\.mlp\.', r'encoder.svtr_block.\1.'),
    (r'^decoder\.fc\.', 'decoder.classifier.'),
    (r'\._mean$', '.running_mean'), (r'\._variance$', '.running_var'),
    # DBFPN (det_mv3_db, det_r*_vd_db): 1x1 laterals in2..in5_conv and 3x3 p2..p5_conv -> FPNC's lists
    (r'^neck\.in([2-5])_conv\.', lambda m: f'neck.lateral_convs.{int(m.group(1)) - 2}.'),
    (r'^neck\.p([2-5])_conv\.', lambda m: f'neck.smooth_convs.{int(m.group(1)) - 2}.'),
]
#: Paddle keys with no counterpart by design: the unused activation LAB of stride-2 rep layers (PaddleOCR builds
#: it and skips it), the duplicate per-cell LSTM weights of paddle.nn.LSTM
_DROP_RULES = [r'\.cell_(fw|bw)\.']


@dataclass
class PaddleConversion:
    """What :func:`paddle_to_torch_state_dict` did: ``state_dict`` (our names, torch tensors), ``renamed``
    (Paddle name -> ours), ``unused`` (Paddle names with no weight in the model), ``transposed`` (our names of
    the linear weights turned from Paddle's ``[in, out]``)."""

    state_dict: 'OrderedDict[str, Any]'
    renamed: dict[str, str]
    unused: list[str]
    transposed: list[str]
    #: 'paddleocr' (a whole PaddleOCR model) or 'paddleclas' (an ImageNet backbone of PaddleClas, into ``backbone``)
    layout: str = 'paddleocr'

    def summary(self) -> str:
        """One line: how many Paddle weights were used (and where), how many skipped (the first few named)."""
        where = ' into the backbone' if self.layout == 'paddleclas' else ''
        text = f'{self.layout} weights: {len(self.renamed)} used{where}, {len(self.unused)} unused'
        if self.unused:
            text += ' (' + ', '.join(self.unused[:6]) + (', ...' if len(self.unused) > 6 else '') + ')'
        return text


def _candidates(name: str) -> list[str]:
    outs = []
    for pat, repl in _PREFIX_RULES:
        if re.search(pat, name):
            outs.append(re.sub(pat, repl, name, count=1))
    outs.append(name)
    result = []
    for cand in outs:
        for pat, repl in _INNER_RULES:
            cand = re.sub(pat, repl, cand)
        result.append(cand)
    return result


_BRANCH = re.compile(r'^(.*\.)(conv_kxk\.\d+\.(conv|bn)\.|conv_1x1\.(conv|bn)\.|identity\.)[a-z_]+$')


def _foldable(name: str, own: dict) -> bool:
    """A training-form branch weight of a re-parameterisable layer that the model holds folded (deploy form):
    the layer's load hook folds such weights into ``reparam_conv``."""
    m = _BRANCH.match(name)
    return bool(m) and f'{m.group(1)}reparam_conv.weight' in own


def paddle_to_torch_state_dict(paddle_state: dict, model) -> PaddleConversion:
    """Rename PaddleOCR's parameters (``paddle_state``: name -> array or tensor) to ``model``'s (a torch
    ``nn.Module``) and convert them to tensors of the model's dtypes.

    Covered: PPLCNetV3 (PaddleOCR's names; a training-form checkpoint also loads into a ``deploy=True`` model, its
    branches folded by the layers' load hook), RSEFPN, DBHead (``head.binarize/thresh`` ->
    ``det_head.binarize/threshold`` Sequential indices), the PP-OCRv4 MultiHead recogniser (``head.ctc_encoder``
    -> ``encoder``, ``head.ctc_head.fc`` -> ``decoder.classifier``; the NRTR branch ``head.before_gtc`` /
    ``head.gtc_head`` only where the names agree), CTC-only recognisers (``neck.encoder`` -> ``encoder``,
    ``head.fc`` -> ``decoder.classifier``), rec_svtrnet's SVTRNet into :class:`SVTREncoder` (``patch_embed.proj.i``
    -> ``patch_embed.net.ConvModulei``, ``pos_embed`` -> ``absolute_pos_embed``, ``sub_sample<s>`` ->
    ``downsample<s>``, ``norm`` -> ``layer_norm``; the local-mixing masks from the model), PPMobileNetV3,
    PPDetMobileNetV3, PPResNetVd and StackedBiLSTMEncoder (same names), DBFPN -> FPNC (the DBHead's first convs'
    input blocks reversed: DBFPN concatenates p5..p2), and a PaddleClas ImageNet backbone (no ``backbone.`` /
    ``neck.`` / ``head.`` key) into a backbone that has ``paddleclas_name`` (``layout='paddleclas'``, one INFO line
    with the counts). BatchNorm ``_mean`` / ``_variance`` become ``running_mean`` / ``running_var``; Paddle's
    ``nn.Linear`` weights (``[in, out]``) are transposed. Names that fit nothing are listed in ``unused``; the
    loader reports the model's weights left unfilled.
    """
    import torch
    from torch import nn

    model = getattr(model, 'module', model)
    own = model.state_dict()
    modules = dict(model.named_modules())
    out: OrderedDict[str, Any] = OrderedDict()
    renamed, unused, transposed = {}, [], []
    classifier = _paddleclas_backbone(paddle_state, model)
    for name, value in paddle_state.items():
        tensor = torch.as_tensor(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        if classifier is not None:  # a PaddleClas ImageNet network: its features into our backbone
            ours = classifier(name)
            cands = [] if ours is None else [c for c in _candidates('backbone.' + ours)]
        else:
            cands = _candidates(name)
        target = next((c for c in cands if c in own or _foldable(c, own)), None)
        if target is not None and target not in own:  # a training-form branch: the layer's load hook folds it
            out[target] = tensor
            renamed[name] = target
            continue
        if target is None:
            if not any(re.search(p, name) for p in _DROP_RULES):
                unused.append(name)
            continue
        mod = modules.get(target.rsplit('.', 1)[0])
        if isinstance(mod, nn.Linear) and target.endswith('.weight') and tensor.dim() == 2:
            tensor = tensor.t()
            transposed.append(target)
        want = own[target]
        out[target] = tensor.to(want.dtype) if tensor.is_floating_point() else tensor
        renamed[name] = target
    # stride-2 rep layers: PaddleOCR's Act exists but is never run; ours has none (it would be unused noise)
    unused = [n for n in unused if not re.search(r'\.act\.lab\.(scale|bias)$', n)]
    _dbfpn_concat_order(out, renamed, modules)
    _svtr_derived(out, renamed, own, modules)
    conversion = PaddleConversion(out, renamed, unused, transposed,
                                  layout='paddleocr' if classifier is None else 'paddleclas')
    if classifier is not None:
        import logging
        logging.getLogger('visioncraft').info(f'{conversion.summary()}; the neck and head keep their initial '
                                              'weights')
    return conversion


def _paddleclas_backbone(paddle_state: dict, model) -> Any:
    """The backbone's ``paddleclas_name`` when ``paddle_state`` is a PaddleClas ImageNet network (no
    ``backbone.`` / ``neck.`` / ``head.`` prefix anywhere) and the model's backbone knows PaddleClas's names
    (:class:`~visioncraft.models.backbones.PPDetMobileNetV3`, :class:`~visioncraft.models.backbones.PPResNetVd`);
    else None."""
    backbone = getattr(model, 'backbone', None)
    rename = getattr(backbone, 'paddleclas_name', None)
    if rename is None or any(isinstance(k, str) and k.startswith(('backbone.', 'neck.', 'head.'))
                             for k in paddle_state):
        return None
    return rename


def _svtr_derived(out: dict, renamed: dict, own: dict, modules: dict) -> None:
    """What a PaddleOCR SVTRNet checkpoint holds no tensor for, taken from the model itself once its positional
    embedding came from Paddle: the local-mixing ``mask`` buffers (PaddleOCR keeps them as plain attributes, made
    from the config) and, for ``prenorm`` models, the final ``layer_norm`` (PaddleOCR builds none; it is not run)."""
    for target in renamed.values():
        if not target.endswith('absolute_pos_embed'):
            continue
        prefix = target[:-len('absolute_pos_embed')]
        encoder = modules.get(prefix.rstrip('.'))
        for key, value in own.items():
            if not key.startswith(prefix) or key in out:
                continue
            if key.endswith('.mixer.mask') or (getattr(encoder, 'prenorm', False) and
                                              key.startswith(prefix + 'layer_norm.')):
                out[key] = value


def _dbfpn_concat_order(out: dict, renamed: dict, modules: dict) -> None:
    """PaddleOCR's DBFPN concatenates its four levels coarsest first (p5, p4, p3, p2), FPNC finest first: the
    DBHead's first convs read those channels, so their input-channel blocks are reversed."""
    if not any(k.startswith('neck.in2_conv.') for k in renamed):
        return
    import torch
    for branch in ('binarize', 'threshold'):
        key = f'det_head.{branch}.0.weight'
        w = out.get(key)
        if w is None or w.dim() != 4 or w.shape[1] % 4:
            continue
        out[key] = torch.cat(list(torch.chunk(w, 4, dim=1))[::-1], dim=1).contiguous()
