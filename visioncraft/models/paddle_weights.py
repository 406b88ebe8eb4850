"""Paddle inference models (``.pdmodel`` + ``.pdiparams``) into our modules, layer by layer.

An inference model names its tensors by the program (``conv2d_5.w_0``, ``batch_norm2d_3.w_1``), not by the layer
path, so they cannot be renamed the way a ``.pdparams`` checkpoint is
(:func:`visioncraft.fileio.paddle.paddle_to_torch_state_dict`). The program does run its layers in the order the
network's forward ran them, as an ONNX export does: :func:`paddle_program_layers` reads the program's operators
(read with the protobuf reader of :mod:`visioncraft.fileio.paddle`) into the same layer records the ONNX importer
uses (:class:`~visioncraft.models.onnx_weights.OnnxLayer`: conv, deconv, bn, linear, layernorm, affine), and
:func:`load_paddle_inference_weights` pairs them with the layers our module runs, checking each kind, shape and
setting (:mod:`visioncraft.models.onnx_weights`).

Operators read: ``conv2d`` / ``depthwise_conv2d`` / ``conv2d_transpose`` (Filter; a following ``elementwise_add``
of a persistable, possibly through ``reshape2``, is the bias), ``batch_norm``, ``layer_norm``, ``matmul_v2`` /
``matmul`` / ``mul`` with a persistable 2-D operand (a linear layer, Paddle's ``[in, out]`` transposed),
``elementwise_mul`` of a persistable scalar (a learnable affine block; its ``elementwise_add`` is the bias).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..fileio.paddle import PaddleFormatError, _fields, _varint, load_inference_model
from .onnx_weights import ImportReport, OnnxLayer, load_matched, pair_layers

__all__ = ['paddle_program_layers', 'match_paddle_inference_weights', 'load_paddle_inference_weights']

_RESHAPES = {'reshape2', 'reshape', 'unsqueeze2', 'unsqueeze', 'squeeze2', 'assign', 'cast'}


def _ops(model_path: str) -> list[tuple[str, dict[str, list[str]], dict[str, list[str]], dict]]:
    """``(type, inputs, outputs, attrs)`` of every operator of block 0 (OpDesc: inputs = 1, outputs = 2, type = 3,
    attrs = 4; Var: parameter = 1, arguments = 2; Attr: name = 1, i = 3, f = 4, s = 5, ints = 6, floats = 7)."""
    with open(model_path, 'rb') as f:
        data = f.read()
    blocks = [v for n, w, v in _fields(data) if n == 1 and w == 2]
    if not blocks:
        raise PaddleFormatError(f'{model_path}: no program block')
    out = []
    for num, wire, op in _fields(blocks[0]):
        if num != 4 or wire != 2:
            continue
        typ, ins, outs, attrs = '', {}, {}, {}
        for n, w, v in _fields(op):
            if n == 3:
                typ = v.decode()
            elif n in (1, 2):
                var = _fields(v)
                key = next((x.decode() for k, _, x in var if k == 1), '')
                (ins if n == 1 else outs)[key] = [x.decode() for k, _, x in var if k == 2]
            elif n == 4:
                name, vals = '', []
                for an, aw, av in _fields(v):
                    if an == 1:
                        name = av.decode()
                    elif an == 3:
                        vals = av - (1 << 64) if av >= 1 << 63 else av
                    elif an == 4:
                        vals = struct.unpack('<f', struct.pack('<i', av))[0]
                    elif an == 5:
                        vals = av.decode(errors='replace')
                    elif an == 6:
                        if aw == 0:
                            vals = (vals if isinstance(vals, list) else []) + [av - (1 << 64) if av >= 1 << 63 else av]
                        else:
                            pos, lst = 0, []
                            while pos < len(av):
                                x, pos = _varint(av, pos)
                                lst.append(x - (1 << 64) if x >= 1 << 63 else x)
                            vals = lst
                attrs[name] = vals
        out.append((typ, ins, outs, attrs))
    return out


def _conv_attrs(attrs: dict, kind: str) -> dict:
    pads = list(attrs.get('paddings', [0, 0]))
    if len(pads) == 2:
        pads = [pads[0], pads[1], pads[0], pads[1]]
    else:  # Paddle: top, bottom, left, right -> ONNX order: top, left, bottom, right
        pads = [pads[0], pads[2], pads[1], pads[3]]
    if attrs.get('padding_algorithm', 'EXPLICIT') not in ('EXPLICIT', ''):
        raise PaddleFormatError(f'{kind}: padding_algorithm {attrs["padding_algorithm"]!r} is not supported')
    return dict(stride=tuple(attrs.get('strides', [1, 1])), padding=tuple(pads[:2]), pads=tuple(pads),
                groups=int(attrs.get('groups', 1) or 1), dilation=tuple(attrs.get('dilations', [1, 1])))


def paddle_program_layers(model_path: str | os.PathLike, params_path: str | os.PathLike | None = None
                          ) -> list[OnnxLayer]:
    """Every parameterised layer of a Paddle inference model, in the order its program runs them, with the
    tensors in PyTorch layout (see the module docstring)."""
    model_path = str(model_path)
    weights = load_inference_model(model_path, params_path)
    alias: dict[str, str] = {n: n for n in weights}  # variable -> the persistable it is (reshaped)
    produced_by: dict[str, int] = {}  # variable -> index of the layer whose output it is
    layers: list[OnnxLayer] = []
    used: set[str] = set()

    def param(names):
        return next((alias[n] for n in names if n in alias), None)

    for typ, ins, outs, attrs in _ops(model_path):
        out_names = [n for v in outs.values() for n in v]
        if typ in _RESHAPES:
            src = param(ins.get('X', []))
            if src is not None:
                for n in out_names:
                    alias[n] = src
            elif ins.get('X') and ins['X'][0] in produced_by:
                for n in out_names:
                    produced_by[n] = produced_by[ins['X'][0]]
            continue
        if typ in ('conv2d', 'depthwise_conv2d', 'conv2d_transpose'):
            w = param(ins.get('Filter', []))
            kind = 'deconv' if typ == 'conv2d_transpose' else 'conv'
            tensors = {'weight': weights[w].astype(np.float32)}
            b = param(ins.get('Bias', []))
            if b is not None:
                tensors['bias'] = weights[b].astype(np.float32)
                used.add(b)
            used.add(w)
            layers.append(OnnxLayer(kind, tensors, _conv_attrs(attrs, typ), w))
        elif typ == 'batch_norm':
            names = [param(ins.get(k, [])) for k in ('Scale', 'Bias', 'Mean', 'Variance')]
            used.update(names)
            layers.append(OnnxLayer('bn', dict(zip(('weight', 'bias', 'running_mean', 'running_var'),
                                                   (weights[n].astype(np.float32) for n in names))),
                                    dict(eps=float(attrs.get('epsilon', 1e-5))), names[0]))
        elif typ == 'layer_norm':
            tensors = {}
            for key, src in (('weight', 'Scale'), ('bias', 'Bias')):
                n = param(ins.get(src, []))
                if n is not None:
                    tensors[key] = weights[n].astype(np.float32)
                    used.add(n)
            layers.append(OnnxLayer('layernorm', tensors, dict(eps=float(attrs.get('epsilon', 1e-5))),
                                    out_names[0] if out_names else typ))
        elif typ in ('matmul_v2', 'matmul', 'mul') and param(ins.get('Y', [])) is not None:
            n = param(ins['Y'])
            w = weights[n].astype(np.float32)
            if w.ndim != 2 or attrs.get('trans_y') or attrs.get('transpose_Y'):
                raise PaddleFormatError(f'{model_path}: {typ} with weight {n} {w.shape} is not a linear layer')
            used.add(n)
            layers.append(OnnxLayer('linear', {'weight': np.ascontiguousarray(w.T)}, {}, n))
        elif typ == 'elementwise_mul' and param(ins.get('X', []) + ins.get('Y', [])) is not None:
            n = param(ins.get('X', []) + ins.get('Y', []))
            if weights[n].size != 1:
                raise PaddleFormatError(f'{model_path}: elementwise_mul by the persistable {n} of shape '
                                        f'{list(weights[n].shape)} (only the scalar learnable affine blocks are read)')
            used.add(n)
            layers.append(OnnxLayer('affine', {'scale': weights[n].reshape(1).astype(np.float32)}, {}, n))
        elif typ == 'elementwise_add':
            operands = ins.get('X', []) + ins.get('Y', [])
            b = param(operands)
            src = next((produced_by[x] for x in operands if x in produced_by), None)
            if b is not None and src is not None and 'bias' not in layers[src].tensors \
                    and layers[src].kind in ('conv', 'deconv', 'linear', 'affine'):
                layers[src].tensors['bias'] = weights[b].reshape(-1).astype(np.float32)
                used.add(b)
                for o in out_names:
                    produced_by[o] = src
                continue
            if b is not None:
                raise PaddleFormatError(f'{model_path}: elementwise_add of the persistable {b} follows no layer')
            continue
        else:
            stray = [n for v in ins.values() for n in v if n in alias]
            if stray:
                raise PaddleFormatError(f'{model_path}: operator {typ!r} uses the weights {stray}, which this reader '
                                        'does not know how to map')
            continue
        for o in out_names:
            produced_by[o] = len(layers) - 1
    for layer in layers:  # an affine block with no bias is not one of ours
        if layer.kind == 'affine' and 'bias' not in layer.tensors:
            raise PaddleFormatError(f'{model_path}: the scale {layer.node} has no added bias')
    unused = sorted(set(weights) - used)
    if unused:
        raise PaddleFormatError(f'{model_path}: {len(unused)} weights used by no layer read here: {unused[:5]}')
    return layers


def match_paddle_inference_weights(module: nn.Module, model_path, example_inputs: tuple, run=None
                                   ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Pair the layers ``module`` runs on ``example_inputs`` (eval mode) with the Paddle program's, in order;
    returns ``(state entries, names of the paired layers)``. ValueError names the first layer whose kind, shape or
    settings differ, or the two layer counts."""
    return pair_layers(module, paddle_program_layers(model_path), example_inputs, run, 'Paddle',
                       f'the Paddle program {model_path}')


def load_paddle_inference_weights(module: nn.Module, model_path: str | os.PathLike, example_inputs: tuple,
                                  run=None) -> ImportReport:
    """:func:`match_paddle_inference_weights`, then load the values into ``module`` (in place). Inference programs
    hold the deploy form: PPLCNetV3 backbones must be built with ``deploy=True`` when the exporter folded them
    (PaddleOCR's does). Parameters the program has no value for (the detector's threshold branch) keep theirs and
    are listed in ``not_in_graph``."""
    state, names = match_paddle_inference_weights(module, Path(model_path), example_inputs, run)
    return load_matched(module, state, len(names))
