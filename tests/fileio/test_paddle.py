"""Paddle weight files read without Paddle (visioncraft/fileio/paddle.py): .pdparams through the restricted
unpickler, .pdmodel through the protobuf reader, .pdiparams against the program. The files are written here by
hand (pickle of numpy arrays; protobuf bytes encoded field by field) plus the small real ones in
tests/data/reference/paddle/ (written by paddlepaddle 2.6, tests/reference/make_paddle_reference.py)."""
from __future__ import annotations

import os
import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from visioncraft.fileio.paddle import (PaddleFormatError, is_paddle_state_dict, load_inference_model,
                                       load_paddle_weights, load_pdparams, read_program_vars)

REF = Path(__file__).resolve().parents[1] / 'data' / 'reference' / 'paddle'


# ------------------------------------------------------------------------- a minimal protobuf / pdiparams writer

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, value) -> bytes:
    if isinstance(value, (bytes, str)):
        value = value.encode() if isinstance(value, str) else value
        return _varint(num << 3 | 2) + _varint(len(value)) + value
    return _varint(num << 3) + _varint(int(value))


_TYPE = {np.dtype('float32'): 5, np.dtype('int64'): 3, np.dtype('float64'): 6}


def _tensor_desc(arr: np.ndarray, packed: bool = False) -> bytes:
    body = _field(1, _TYPE[arr.dtype])
    if packed:
        body += _field(2, b''.join(_varint(d) for d in arr.shape))
    else:
        body += b''.join(_field(2, d) for d in arr.shape)
    return body


def _var(name: str, arr: np.ndarray | None, persistable: bool, vtype: int = 7) -> bytes:
    vt = _field(1, vtype)
    if arr is not None:
        vt += _field(3, _field(1, _tensor_desc(arr, packed=name.endswith('packed'))) + _field(2, 0))
    return _field(1, name) + _field(2, vt) + _field(3, int(persistable))


def write_program(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """A ProgramDesc with one block: feed / fetch vars, a non-persistable activation, the persistable tensors."""
    block = _field(1, 0) + _field(2, -1)
    block += _field(3, _var('feed', None, True, vtype=9)) + _field(3, _var('fetch', None, True, vtype=10))
    block += _field(3, _var('x', np.zeros((1, 3), np.float32), False))
    for name, arr in tensors.items():
        block += _field(3, _var(name, arr, True))
    path.write_bytes(_field(1, block) + _field(4, _field(1, 0)))


def write_pdiparams(path: Path, tensors: dict[str, np.ndarray]) -> None:
    out = bytearray()
    for name in sorted(tensors):
        arr = tensors[name]
        desc = _tensor_desc(arr)
        out += struct.pack('<I', 0) + struct.pack('<Q', 0) + struct.pack('<I', 0) + struct.pack('<i', len(desc))
        out += desc + arr.astype(arr.dtype.newbyteorder('<')).tobytes()
    path.write_bytes(bytes(out))


# ----------------------------------------------------------------------------------------------------- pdparams

@pytest.mark.parametrize('protocol', [2, 3, 4])
def test_pdparams_round_trip(tmp_path, protocol):
    state = OrderedDict([('backbone.conv1.conv.weight', np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)),
                         ('backbone.conv1.bn._mean', np.ones(2, np.float32)),
                         ('step', np.array(3, np.int64)),
                         ('StructuredToParameterName@@', {'backbone.conv1.conv.weight': 'conv2d_0.w_0'})])
    path = tmp_path / 'm.pdparams'
    path.write_bytes(pickle.dumps(state, protocol=protocol))
    out = load_pdparams(path)
    assert list(out) == ['backbone.conv1.conv.weight', 'backbone.conv1.bn._mean', 'step']
    np.testing.assert_array_equal(out['backbone.conv1.conv.weight'], state['backbone.conv1.conv.weight'])
    assert out['step'].dtype == np.int64 and is_paddle_state_dict(out)


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo should-not-run',))


def test_pdparams_refuses_other_globals(tmp_path):
    path = tmp_path / 'evil.pdparams'
    path.write_bytes(pickle.dumps({'w': _Evil()}, protocol=2))
    with pytest.raises(PaddleFormatError, match=r'evil\.pdparams.*(posix|os)\.system'):
        load_pdparams(path)


@pytest.mark.parametrize('content, match', [(pickle.dumps([np.zeros(2)]), 'holds a list'),
                                            (b'not a pickle at all', 'not a readable .pdparams'),
                                            (pickle.dumps({'a': 'text'}), "entry 'a' is a str")])
def test_pdparams_bad_content(tmp_path, content, match):
    path = tmp_path / 'bad.pdparams'
    path.write_bytes(content)
    with pytest.raises(PaddleFormatError, match=match):
        load_pdparams(path)


# ------------------------------------------------------------------------------------------ pdmodel + pdiparams

def _tensors():
    rng = np.random.default_rng(0)
    return {'conv2d_0.w_0': rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            'batch_norm2d_0.w_1': rng.normal(size=(4,)).astype(np.float32),
            'linear_0.w_0.packed': rng.normal(size=(5, 2)).astype(np.float32),
            'step_0': np.array([7], np.int64)}


def test_inference_model_crafted(tmp_path):
    tensors = _tensors()
    write_program(tmp_path / 'm.pdmodel', tensors)
    write_pdiparams(tmp_path / 'm.pdiparams', tensors)
    pvars = [v for v in read_program_vars(tmp_path / 'm.pdmodel') if v.persistable and v.type == 7]
    assert {v.name: v.dims for v in pvars} == {k: list(a.shape) for k, a in tensors.items()}
    out = load_paddle_weights(tmp_path / 'm.pdiparams')
    assert list(out) == sorted(tensors)
    for k, a in tensors.items():
        np.testing.assert_array_equal(out[k], a)
        assert out[k].dtype == a.dtype


def test_inference_model_errors(tmp_path):
    tensors = _tensors()
    write_program(tmp_path / 'm.pdmodel', tensors)
    write_pdiparams(tmp_path / 'm.pdiparams', tensors)
    data = (tmp_path / 'm.pdiparams').read_bytes()
    (tmp_path / 'm.pdiparams').write_bytes(data[:-2])
    with pytest.raises(PaddleFormatError, match=r'm\.pdiparams: ends inside the data of tensor'):
        load_inference_model(tmp_path / 'm.pdmodel')
    (tmp_path / 'm.pdiparams').write_bytes(data + b'\0' * 8)
    with pytest.raises(PaddleFormatError, match='8 bytes left'):
        load_inference_model(tmp_path / 'm.pdmodel')
    (tmp_path / 'm.pdiparams').unlink()
    with pytest.raises(FileNotFoundError, match=r'm\.pdiparams are missing'):
        load_inference_model(tmp_path / 'm.pdmodel')
    (tmp_path / 'j.pdmodel').write_bytes(b'{"program": {}}')
    with pytest.raises(PaddleFormatError, match='PIR JSON'):
        read_program_vars(tmp_path / 'j.pdmodel')


def test_real_inference_model_reads():
    """paddle.jit.save's files (paddlepaddle 2.6): every persistable tensor read, nothing left over, shapes as
    the program declares (load_inference_model checks both)."""
    weights = load_inference_model(REF / 'det_infer.pdmodel')
    pvars = [v for v in read_program_vars(REF / 'det_infer.pdmodel') if v.persistable and v.type == 7]
    assert len(weights) == len(pvars) > 100
    assert all(a.dtype == np.float32 for a in weights.values())
    assert weights['conv2d_0.w_0'].shape == (16, 3, 3, 3)
