"""Weights from an inference ONNX graph into a PyTorch module of the same architecture.

Inference exports (PaddleOCR's through paddle2onnx, among others) keep no parameter names that map onto ours, but
their graphs run the layers in the order the framework's forward ran them. :func:`onnx_layer_params` reads, in
graph order, every parameterised layer the graph computes: a convolution (``Conv`` + a constant bias, possibly a
following ``Add`` of a constant), a transposed convolution, a ``BatchNormalization``, a linear layer (``MatMul``
by a constant matrix + ``Add`` of a constant), a layer norm (the ``ReduceMean / Sub / Pow / Sqrt / Div`` pattern,
then ``Mul`` and ``Add`` of per-channel constants) and a scalar affine ``scale * x + bias`` (PP-LCNetV3's
learnable affine blocks). :func:`match_onnx_weights` runs the module once and records the order in which its
layers of those kinds run (forward hooks), then pairs the two lists one to one, checking at each position that
the kinds, the tensor shapes and the layer settings (stride, padding, groups, eps) agree, so a wrong architecture
fails loudly at the first layer that differs instead of loading shifted weights.

Constants are read from ``Constant`` nodes and initializers alike; ``Reshape`` / ``Cast`` / ``Identity`` /
``Squeeze`` / ``Unsqueeze`` of constants are folded first. Needs the ``onnx`` package (the ``export`` extra).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ['OnnxLayer', 'ImportReport', 'load_matched', 'pair_layers', 'onnx_layer_params', 'onnx_metadata', 'match_onnx_weights',
           'load_onnx_weights']


@dataclass
class OnnxLayer:
    """One parameterised layer of an ONNX graph: ``kind`` (``'conv'``, ``'deconv'``, ``'bn'``, ``'linear'``,
    ``'layernorm'``, ``'affine'``), its tensors in PyTorch layout (``weight``, ``bias``, ``running_mean``,
    ``running_var``, ``scale``), its settings (``stride``, ``padding``, ``groups``, ``eps``) and the node that
    holds it (for messages)."""

    kind: str
    tensors: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    node: str = ''


@dataclass
class ImportReport:
    """What :func:`load_onnx_weights` did: ``loaded`` parameter / buffer names, ``not_in_graph`` names of the module
    that the graph has no value for (layers that did not run, e.g. a training-only branch) and ``layers`` the number
    of layers paired."""

    loaded: list[str]
    not_in_graph: list[str]
    layers: int


def _require_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - the export / test extras install it
        raise ImportError('reading ONNX weights needs the onnx package: pip install "visioncraft[export]"') from exc
    return onnx, numpy_helper


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The model's ``metadata_props`` as a dict (PaddleOCR recognisers keep their character list under
    ``'character'``, one character per line)."""
    onnx, _ = _require_onnx()
    model = onnx.load(os.fspath(path))
    return {p.key: p.value for p in model.metadata_props}


class _Graph:
    def __init__(self, model) -> None:
        onnx, numpy_helper = _require_onnx()
        self.onnx = onnx
        g = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.nodes = list(g.node)
        for n in self.nodes:
            if n.op_type == 'Constant':
                for a in n.attribute:
                    if a.name == 'value':
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
        self._fold()
        self.consumers: dict[str, list] = {}
        self.producer: dict[str, Any] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
            for o in n.output:
                self.producer[o] = n

    def attrs(self, node) -> dict[str, Any]:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _fold(self) -> None:
        for n in self.nodes:
            if not n.input or not all(i in self.consts for i in n.input if i):
                continue
            x = self.consts[n.input[0]]
            if n.op_type == 'Reshape':
                self.consts[n.output[0]] = x.reshape(self.consts[n.input[1]].astype(np.int64).tolist())
            elif n.op_type in ('Identity', 'Cast'):
                self.consts[n.output[0]] = x
            elif n.op_type == 'Squeeze':
                axes = self.attrs(n).get('axes') or (self.consts[n.input[1]].tolist() if len(n.input) > 1 else None)
                self.consts[n.output[0]] = np.squeeze(x, axis=tuple(axes) if axes is not None else None)
            elif n.op_type == 'Unsqueeze':
                axes = self.attrs(n).get('axes') or self.consts[n.input[1]].tolist()
                self.consts[n.output[0]] = np.expand_dims(x, tuple(axes))

    def const_operand(self, node) -> tuple[np.ndarray | None, str | None]:
        """For a binary node: (the constant operand, the other input name), or (None, None)."""
        a, b = node.input[0], node.input[1]
        if b in self.consts and a not in self.consts:
            return self.consts[b], a
        if a in self.consts and b not in self.consts:
            return self.consts[a], b
        return None, None

    def single_consumer(self, name: str, op_type: str):
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None


def _added_bias(graph: _Graph, out_name: str, channels: int, channel_shape: tuple[int, ...]):
    """The bias of a conv / matmul whose only consumer adds a constant of ``channels`` values shaped like
    ``channel_shape`` up to leading ones (``(1, C, 1, 1)`` for a conv, ``(C,)`` for a matmul), and that Add node;
    else (None, None)."""
    add = graph.single_consumer(out_name, 'Add')
    if add is None:
        return None, None
    const, _ = graph.const_operand(add)
    if const is None or const.size != channels:
        return None, None
    shape = tuple(const.shape)
    if len(channel_shape) == 4 and not (shape == (1, channels, 1, 1) or shape == (channels, 1, 1)):
        return None, None
    if len(channel_shape) == 1 and shape[-1:] != (channels,):
        return None, None
    return const.reshape(channels).astype(np.float32), add


def _layernorm_eps(graph: _Graph, div_name: str) -> float | None:
    """eps of the ``(x - mean) / sqrt(var + eps)`` pattern ending in node output ``div_name``, else None."""
    div = graph.producer.get(div_name)
    if div is None or div.op_type != 'Div':
        return None
    sqrt = graph.producer.get(div.input[1])
    if sqrt is None or sqrt.op_type != 'Sqrt':
        return None
    add = graph.producer.get(sqrt.input[0])
    if add is None or add.op_type != 'Add':
        return None
    eps, _ = graph.const_operand(add)
    return None if eps is None else float(np.asarray(eps).reshape(-1)[0])


def onnx_layer_params(path_or_model) -> list[OnnxLayer]:
    """Every parameterised layer of an ONNX model (path or ``onnx.ModelProto``), in graph order (see the module
    docstring for the patterns read)."""
    onnx, _ = _require_onnx()
    model = onnx.load(os.fspath(path_or_model)) if isinstance(path_or_model, (str, os.PathLike)) else path_or_model
    g = _Graph(model)
    layers: list[OnnxLayer] = []
    used_adds: set[int] = set()
    for n in g.nodes:
        op = n.op_type
        if op in ('Conv', 'ConvTranspose') and n.input[1] in g.consts:
            w = g.consts[n.input[1]].astype(np.float32)
            a = g.attrs(n)
            out_ch = w.shape[0] if op == 'Conv' else w.shape[1] * int(a.get('group', 1))
            bias = g.consts[n.input[2]].astype(np.float32) if len(n.input) > 2 and n.input[2] else None
            if bias is None:
                bias, add = _added_bias(g, n.output[0], out_ch, (1, out_ch, 1, 1))
                if add is not None:
                    used_adds.add(id(add))
            pads = list(a.get('pads', [0] * 4))
            tensors = {'weight': w} if bias is None else {'weight': w, 'bias': bias}
            layers.append(OnnxLayer('conv' if op == 'Conv' else 'deconv', tensors, dict(
                stride=tuple(a.get('strides', [1, 1])), padding=tuple(pads[:2]), pads=tuple(pads),
                groups=int(a.get('group', 1)), dilation=tuple(a.get('dilations', [1, 1]))), n.name or n.output[0]))
        elif op == 'BatchNormalization':
            s, b, m, v = (g.consts[i].astype(np.float32) for i in n.input[1:5])
            layers.append(OnnxLayer('bn', dict(weight=s, bias=b, running_mean=m, running_var=v),
                                    dict(eps=float(g.attrs(n).get('epsilon', 1e-5))), n.name or n.output[0]))
        elif op in ('MatMul', 'Gemm') and n.input[1] in g.consts:
            w = g.consts[n.input[1]].astype(np.float32)
            a = g.attrs(n) if op == 'Gemm' else {}
            if w.ndim != 2:
                continue
            weight = w if a.get('transB', 0) else w.T
            bias = g.consts[n.input[2]].astype(np.float32) if op == 'Gemm' and len(n.input) > 2 else None
            if bias is None:
                bias, add = _added_bias(g, n.output[0], weight.shape[0], (weight.shape[0],))
                if add is not None:
                    used_adds.add(id(add))
            tensors = {'weight': np.ascontiguousarray(weight)}
            if bias is not None:
                tensors['bias'] = bias
            layers.append(OnnxLayer('linear', tensors, {}, n.name or n.output[0]))
        elif op == 'Mul':
            const, other = g.const_operand(n)
            if const is None:
                continue
            add = g.single_consumer(n.output[0], 'Add')
            if add is None or id(add) in used_adds:
                continue
            bias, _ = g.const_operand(add)
            if bias is None or bias.size != const.size:
                continue
            if const.size == 1:
                used_adds.add(id(add))
                layers.append(OnnxLayer('affine', dict(scale=const.reshape(1).astype(np.float32),
                                                       bias=bias.reshape(1).astype(np.float32)), {},
                                        n.name or n.output[0]))
            else:
                eps = _layernorm_eps(g, other)
                if eps is None:
                    continue
                used_adds.add(id(add))
                layers.append(OnnxLayer('layernorm', dict(weight=const.reshape(-1).astype(np.float32),
                                                          bias=bias.reshape(-1).astype(np.float32)),
                                        dict(eps=eps), n.name or n.output[0]))
        elif op == 'LayerNormalization':
            w = g.consts[n.input[1]].astype(np.float32)
            tensors = {'weight': w}
            if len(n.input) > 2 and n.input[2]:
                tensors['bias'] = g.consts[n.input[2]].astype(np.float32)
            layers.append(OnnxLayer('layernorm', tensors, dict(eps=float(g.attrs(n).get('epsilon', 1e-5))),
                                    n.name or n.output[0]))
    return layers


def _kind_of(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d):
        return 'conv'
    if isinstance(module, nn.ConvTranspose2d):
        return 'deconv'
    if isinstance(module, nn.BatchNorm2d):
        return 'bn'
    if isinstance(module, nn.Linear):
        return 'linear'
    if isinstance(module, nn.LayerNorm):
        return 'layernorm'
    names = {n for n, _ in module.named_parameters(recurse=False)}
    if names == {'scale', 'bias'} and all(p.numel() == 1 for p in module.parameters(recurse=False)):
        return 'affine'
    return None


def _execution_order(module: nn.Module, example_inputs: tuple, run=None) -> list[tuple[str, nn.Module]]:
    order: list[tuple[str, nn.Module]] = []
    handles = []
    for name, m in module.named_modules():
        if _kind_of(m) is not None:
            handles.append(m.register_forward_hook(lambda mod, args, out, name=name: order.append((name, mod))))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            if run is not None:
                run(module, *example_inputs)
            else:
                module(*example_inputs)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return order


def _check_settings(name: str, mod: nn.Module, layer: OnnxLayer, index: int) -> None:
    where = f'layer {index} ({name!r} <- ONNX node {layer.node!r})'
    a = layer.attrs
    if layer.kind in ('conv', 'deconv'):
        mine = dict(stride=tuple(mod.stride), groups=mod.groups, dilation=tuple(mod.dilation))
        theirs = dict(stride=tuple(a['stride']), groups=a['groups'], dilation=tuple(a['dilation']))
        pads = a['pads']
        if pads[:2] != pads[2:]:
            raise ValueError(f'{where}: asymmetric ONNX padding {pads} has no nn.Conv2d equivalent')
        if not isinstance(mod.padding, str):
            mine['padding'], theirs['padding'] = tuple(mod.padding), tuple(a['padding'])
        if mine != theirs:
            raise ValueError(f'{where}: settings differ: module {mine}, ONNX {theirs}')
    if layer.kind in ('bn', 'layernorm') and abs(float(mod.eps) - a['eps']) > 1e-9 * max(1.0, a['eps']) + 1e-12:
        raise ValueError(f'{where}: eps differs: module {mod.eps}, ONNX {a["eps"]}')


def match_onnx_weights(module: nn.Module, onnx_path, example_inputs: tuple, run=None
                       ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Pair the layers ``module`` runs on ``example_inputs`` (in eval mode, or through ``run(module, *inputs)``)
    with the ONNX graph's, in order; returns ``(state_dict, names)``: the module's state entries with the graph's
    values, and the names of the layers paired.

    Raises ValueError naming the first position where the kinds, shapes or settings differ, or the numbers of
    layers.
    """
    return pair_layers(module, onnx_layer_params(onnx_path), example_inputs, run, 'ONNX', 'the ONNX graph')


def load_onnx_weights(module: nn.Module, onnx_path, example_inputs: tuple, run=None) -> ImportReport:
    """:func:`match_onnx_weights`, then load the values into ``module`` (in place). Parameters the graph has no
    value for (layers that did not run on ``example_inputs``) keep theirs and are listed in the report."""
    state, names = match_onnx_weights(module, onnx_path, example_inputs, run)
    return load_matched(module, state, len(names))


def load_matched(module: nn.Module, state: dict, layers: int) -> ImportReport:
    """Copy the matched values ``state`` into ``module`` (in place); what it has no value for is reported as
    ``not_in_graph``. Shared by the ONNX and Paddle-inference importers."""
    with torch.no_grad():
        own = module.state_dict()
        for k, v in state.items():
            own[k].copy_(v)
    skipped = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    return ImportReport(loaded=sorted(state), not_in_graph=skipped, layers=layers)


def pair_layers(module: nn.Module, layers: list, example_inputs: tuple, run=None, label: str = 'ONNX',
                source: str = 'the ONNX graph') -> tuple[dict[str, torch.Tensor], list[str]]:
    """Pair the parameterised layers ``module`` runs on ``example_inputs`` with ``layers`` (an exported graph's, in
    execution order: :class:`OnnxLayer` records), one by one; returns ``(state entries, names of the paired
    layers)``. ValueError names the first position where the kinds, shapes or settings differ, or the two layer
    counts. ``label`` / ``source`` name the other side in the messages (``'Paddle'``, ``'the Paddle program X'``)."""
    order = _execution_order(module, example_inputs, run)
    if len(order) != len(layers):
        mine = [f'{n}:{_kind_of(m)}' for n, m in order]
        theirs = [f'{lay.node}:{lay.kind}' for lay in layers]
        first = next((i for i, (x, y) in enumerate(zip(mine, theirs)) if x.split(':')[1] != y.split(':')[1]),
                     min(len(mine), len(theirs)))
        raise ValueError(f'{type(module).__name__} runs {len(order)} parameterised layers but {source} has '
                         f'{len(layers)}; first difference at position {first}: module '
                         f'{mine[first:first + 3]}, {label} {theirs[first:first + 3]}')
    state: dict[str, torch.Tensor] = {}
    for i, ((name, mod), layer) in enumerate(zip(order, layers)):
        kind = _kind_of(mod)
        where = f'layer {i} ({name!r} <- {label} node {layer.node!r})'
        if kind != layer.kind:
            raise ValueError(f'{where}: module layer is {kind!r}, {label} layer is {layer.kind!r}')
        _check_settings(name, mod, layer, i)
        own = dict(mod.named_parameters(recurse=False))
        own.update({k: v for k, v in mod.named_buffers(recurse=False) if k in ('running_mean', 'running_var')})
        own = {k: v for k, v in own.items() if v is not None}
        if set(own) != set(layer.tensors):
            raise ValueError(f'{where}: module has {sorted(own)}, {label} layer has {sorted(layer.tensors)}')
        for key, value in layer.tensors.items():
            if tuple(own[key].shape) != tuple(value.shape):
                raise ValueError(f'{where}: {key} shape {tuple(own[key].shape)} vs {label} {tuple(value.shape)}')
            state[f'{name}.{key}' if name else key] = torch.from_numpy(np.ascontiguousarray(value)).to(own[key].dtype)
    return state, [n for n, _ in order]
