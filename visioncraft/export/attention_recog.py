"""Attention text recognisers (``NRTRDecoder``: NRTR, SVTR with an attention decoder): export and config-free
inference.

Autoregressive decoding is a loop whose length depends on the text read, so it is not one graph. The export holds
three graphs (each as TorchScript and ONNX) and the predictor runs the loop:

* ``model.pt`` / ``model.onnx``, the encoder: ``input`` float32 N x C x H x W (the preprocessed, right-padded
  batch, as for CTC recognisers) and, for an encoder that keeps its self-attention off the right padding
  (``takes_valid_fracs``: ``NRTREncoder``, as MMOCR's), ``valid_fracs`` float64 N (each crop's share of the batch
  width, ``EncoderDecoderRecognizer.valid_fractions``; the graph turns it into the key mask with the encoder's own
  ``attention_memory``, in float64 as the eager model's Python floats) -> ``feat``, the encoder output (float32
  N x T x C, or N x C x h x w). Dynamic: batch and width. inference.json ``inputs`` names the graph's inputs.
* ``decoder_memory.pt`` / ``.onnx``: ``feat`` -> ``mem_k`` float32 L x N x heads x S x d_k and ``mem_v``
  (L x N x heads x S x d_v): every decoder layer's cross-attention keys and values, computed once per crop
  (``NRTRDecoder.memory``).
* ``decoder_step.pt`` / ``.onnx``: one greedy / beam step, ``NRTRDecoder._step``: inputs ``tokens`` int64 N (the
  last token of each sequence), ``pos`` int64 (1,) (its position), ``cache_k`` / ``cache_v`` float32
  L x N x heads x t x d (the self-attention keys / values of the t earlier positions; t = 0 at the first step),
  ``mem_k``, ``mem_v`` and ``mem_mask`` bool N x 1 x 1 x S (True where a crop's cross attention may look: not
  its right padding); outputs ``logits`` float32 N x num_classes and the caches grown to t + 1.

The predictor (:class:`AttentionRecogPredictor`) runs the stored test pipeline and data preprocessor, the
encoder (given the crops' valid fractions when it takes them), the key mask from each crop's ``valid_ratio`` (``attention_memory``, the decoder's own function), then
``NRTRDecoder.greedy`` / ``beam_search`` / ``predict`` themselves, the step graph standing in for the decoder's
layers (:class:`ExportedNRTRDecoder`). So the stopping rule (all sequences ended), the beam search and the text /
score reading (``AttentionCodec.tokens2text``) are the checkpoint path's code.
"""
from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import check_device
from ..registry import EXPORTERS
from ..tasks.textrecog.codecs import AttentionCodec
from ..tasks.textrecog.models import EncoderDecoderRecognizer
from ..tasks.textrecog.models.nrtr_decoder import NRTRDecoder, attention_memory
from .artifacts import INFERENCE_JSON, MODEL_FILES
from .core import data_preprocessor_settings, export_torchscript, inference_pipeline
from .predictor import (BACKENDS, CropRecogniser, build_preprocessing, load_dictionary, load_graph,
                        load_inference_settings)
from .textrecog import DICT_FILE, TextRecogExporter, dictionary_settings

__all__ = ['AttentionRecogExporter', 'AttentionRecogPredictor', 'ExportedNRTRDecoder', 'EncoderGraph',
           'SelfAttentionOps', 'exportable_copy',
           'DecoderMemoryGraph', 'DecoderStepGraph', 'GraphRunner', 'export_graph', 'DECODER_GRAPHS']

#: the decoder graphs' file stems, their inputs and outputs (inference.json ``postprocess.decoder``)
DECODER_GRAPHS = {
    'memory': dict(stem='decoder_memory', inputs=('feat',), outputs=('mem_k', 'mem_v')),
    'step': dict(stem='decoder_step', inputs=('tokens', 'pos', 'cache_k', 'cache_v', 'mem_k', 'mem_v', 'mem_mask'),
                 outputs=('logits', 'next_cache_k', 'next_cache_v')),
}
_SUFFIX = {'torchscript': '.pt', 'onnx': '.onnx'}


# -- the graphs --------------------------------------------------------------------------------------------------
class SelfAttentionOps(nn.Module):
    """An ``nn.MultiheadAttention`` used for unmasked self-attention, written as plain operations on its own
    parameters: the in-projection, ``F.scaled_dot_product_attention`` per head, the out-projection.

    Why: torch 2.14's TorchScript-based ONNX exporter writes ``nn.MultiheadAttention`` with the sequence length of
    the traced example fixed in its reshapes (the ONNX model then fails on any other crop width; TorchScript itself
    is fine), while these operations keep it symbolic. Any other call (masks, cross attention, attention weights)
    goes to the wrapped module unchanged; its attributes stay readable through this one."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        self.mha = mha

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__('mha'), name)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        m = self.mha
        if not (query is key and key is value) or key_padding_mask is not None or attn_mask is not None \
                or need_weights or is_causal or not m._qkv_same_embed_dim or m.bias_k is not None:
            return m(query, key, value, key_padding_mask=key_padding_mask, need_weights=need_weights,
                     attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal)
        x = query if m.batch_first else query.transpose(0, 1)                        # N x T x E
        qkv = F.linear(x, m.in_proj_weight, m.in_proj_bias).unflatten(-1, (3, m.num_heads, m.head_dim))
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)                               # N x heads x T x d each
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=m.dropout if m.training else 0.0)
        y = m.out_proj(y.transpose(1, 2).flatten(2))
        return (y if m.batch_first else y.transpose(0, 1)), None


def exportable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.MultiheadAttention`` modules are wrapped in :class:`SelfAttentionOps`."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MultiheadAttention):
                setattr(parent, name, SelfAttentionOps(child))
    return model


class EncoderGraph(nn.Module):
    """The recogniser up to its encoder: preprocessed batch (and, with ``valid_fracs``, each crop's share of the
    batch width as a float64 N tensor) -> ``extract_feat`` (backbone + encoder). An encoder that takes the
    fractions (``takes_valid_fracs``) masks the right padding out of its self-attention as in eager mode; the
    tensor reaches its ``attention_memory``, which computes the same mask in traceable float64 operations.

    ``nn.TransformerEncoderLayer`` in eval mode without gradients takes PyTorch's fused "fast path"
    (``aten::_transformer_encoder_layer_fwd``), which the ONNX exporter cannot write; while this graph runs (and is
    traced) the fast path is off, so the graph holds the layer's plain operations (the same maths, ~1e-7 apart).
    Give it :func:`exportable_copy` of the model for ONNX (see :class:`SelfAttentionOps`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, valid_fracs: torch.Tensor | None = None) -> torch.Tensor:
        before = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return self.model.extract_feat(x, valid_fracs)
        finally:
            torch.backends.mha.set_fastpath_enabled(before)


class DecoderMemoryGraph(nn.Module):
    """``NRTRDecoder.memory`` without a mask: encoder output -> every layer's cross-attention keys and values,
    stacked over the layers (L x N x heads x S x d)."""

    def __init__(self, decoder: NRTRDecoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem_kv, _ = self.decoder.memory(feat)
        return torch.stack([k for k, _ in mem_kv]), torch.stack([v for _, v in mem_kv])


class DecoderStepGraph(nn.Module):
    """One decoding step of an ``NRTRDecoder`` (``_step`` with the caches as tensors): the token embedding at
    position ``pos``, every layer with its self-attention cache and cross attention, the classifier."""

    def __init__(self, decoder: NRTRDecoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, tokens: torch.Tensor, pos: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor,
                mem_k: torch.Tensor, mem_v: torch.Tensor, mem_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.decoder
        # NRTRDecoder._embed at a position given as a tensor (a Python int would be traced as a constant)
        x = d.emb_proj(d.dropout(d.trg_word_emb(tokens[:, None]) + d.position_table.index_select(0, pos)))
        next_k, next_v = [], []
        for i, layer in enumerate(d.layer_stack):
            cache = [cache_k[i], cache_v[i]]
            x = layer(x, (mem_k[i], mem_v[i]), mem_mask, cache)
            next_k.append(cache[0])
            next_v.append(cache[1])
        return d.classifier(d.layer_norm(x[:, 0])), torch.stack(next_k), torch.stack(next_v)


def export_graph(graph: nn.Module, inputs: tuple[torch.Tensor, ...], out: Path, stem: str, *,
                 formats: Sequence[str], input_names: Sequence[str], output_names: Sequence[str],
                 dynamic_axes: dict, opset: int | None) -> dict[str, Path]:
    """Write ``graph`` (several inputs / outputs) as ``<stem>.pt`` (traced, frozen: :func:`.core.export_torchscript`)
    and / or ``<stem>.onnx`` (``torch.onnx.export(dynamo=False)``, ``onnx.checker``, and every output on ``inputs``
    compared with PyTorch's through onnxruntime, atol 1e-4). Returns ``{format: path}``."""
    graph = graph.eval()
    written = {}
    if 'torchscript' in formats:
        export_torchscript(graph, inputs, out / f'{stem}.pt')
        written['torchscript'] = out / f'{stem}.pt'
    if 'onnx' in formats:
        import onnx  # deferred: onnx and onnxruntime are optional (the export extra), needed only here
        import onnxruntime as ort
        path = out / f'{stem}.onnx'
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(graph, inputs, str(path), input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=dynamic_axes,
                              opset_version=int(opset) if opset is not None else 17, do_constant_folding=True,
                              dynamo=False)
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        got = sess.run(None, {n: t.numpy() for n, t in zip(input_names, inputs)})
        with torch.no_grad():
            want = graph(*inputs)
        for name, g, w in zip(output_names, got, want):
            w = w.numpy()
            if g.shape != w.shape or not np.allclose(g, w, atol=1e-4, rtol=1e-3):
                raise RuntimeError(f'export: {path.name} output {name!r} differs from PyTorch on the example input '
                                   f'({g.shape} vs {w.shape})')
        written['onnx'] = path
    return written


# -- export ------------------------------------------------------------------------------------------------------
@EXPORTERS.register_module()
class AttentionRecogExporter(TextRecogExporter):
    """Recognisers whose decoder carries an :class:`AttentionCodec`. The decoder must be an ``NRTRDecoder`` (the
    step graph is built from its layers). Writes the encoder as ``model.pt`` / ``model.onnx``, the decoder graphs
    and ``dictionary.txt`` (see the module docstring)."""

    task = 'textrecog'
    input_names = ('input',)
    output_names = ('feat',)
    dynamic_axes = {'input': {0: 'batch', 3: 'width'}, 'feat': {0: 'batch', 1: 'frames'}}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return isinstance(getattr(getattr(model, 'decoder', None), 'codec', None), AttentionCodec)

    def __init__(self, model: nn.Module, cfg) -> None:
        if not isinstance(model.decoder, NRTRDecoder) or not isinstance(model, EncoderDecoderRecognizer):
            raise ValueError(f'export: attention recognisers export with an NRTRDecoder in an '
                             f'EncoderDecoderRecognizer; this model is a {type(model).__name__} with a '
                             f'{type(model.decoder).__name__}')
        super().__init__(model, cfg)
        # the encoder graph's inputs: the batch, and the valid fractions when the encoder masks the padding
        if self.takes_valid_fracs(model):
            self.input_names = ('input', 'valid_fracs')
            self.dynamic_axes = {**type(self).dynamic_axes, 'valid_fracs': {0: 'batch'}}

    @staticmethod
    def takes_valid_fracs(model: nn.Module) -> bool:
        return bool(getattr(model.encoder, 'takes_valid_fracs', False))

    def graph(self) -> nn.Module:
        return EncoderGraph(exportable_copy(self.model))

    def example_input(self) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Two preprocessed crops (the CTC exporter's random crop and its mirror image): a batch of one would be
        traced into the attention layers' reshapes. With ``valid_fracs``: (batch, float64 ``[1.0, 0.6]``), the
        second crop's last 40% taken as padding."""
        x = super().example_input()
        x = torch.cat([x, x.flip(-1)])
        if len(self.input_names) == 1:
            return x
        return x, torch.tensor([1.0, 0.6], dtype=torch.float64)

    def _example_memory(self) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The encoder output of the example crops and its decoder memory (keys, values)."""
        example = self.example_input()
        x, fracs = (example, None) if isinstance(example, torch.Tensor) else example
        with torch.no_grad():
            feat = self.model.extract_feat(x, None if fracs is None else fracs.tolist())
            return feat, DecoderMemoryGraph(self.model.decoder).eval()(feat)

    def inference_settings(self) -> dict[str, Any]:
        codec, decoder = self.model.decoder.codec, self.model.decoder
        files = {name: {fmt: g['stem'] + _SUFFIX[fmt] for fmt in self.formats}
                 for name, g in DECODER_GRAPHS.items()}
        settings = dict(inputs=list(self.input_names),
                        preprocess=dict(pipeline=inference_pipeline(self.cfg),
                                        data_preprocessor=data_preprocessor_settings(self.model)),
                        postprocess=dict(
                            type='AttentionCodec', max_seq_len=codec.max_seq_len, beam_width=codec.beam_width,
                            num_classes=codec.num_classes, start_idx=codec.start_idx, end_idx=codec.end_idx,
                            pad_idx=codec.pad_idx, dictionary=dictionary_settings(codec.dictionary),
                            decoder=dict(type=type(decoder).__name__, num_layers=len(decoder.layer_stack),
                                         beam_width=decoder.beam_width, files=files,
                                         graphs={k: dict(inputs=list(g['inputs']), outputs=list(g['outputs']))
                                                 for k, g in DECODER_GRAPHS.items()})))
        return settings

    def write_extra(self, out: Path) -> list[Path]:
        """``dictionary.txt`` and the decoder graphs in the export's formats."""
        written = super().write_extra(out)
        decoder = self.model.decoder
        feat, (mem_k, mem_v) = self._example_memory()
        g = DECODER_GRAPHS['memory']
        feat_axes = {0: 'batch', 1: 'frames'} if feat.dim() == 3 else {0: 'batch', 3: 'feat_width'}
        mem_axes = {1: 'batch', 3: 'memory'}
        written += export_graph(DecoderMemoryGraph(decoder), (feat,), out, g['stem'], formats=self.formats,
                                input_names=g['inputs'], output_names=g['outputs'],
                                dynamic_axes={'feat': feat_axes, 'mem_k': mem_axes, 'mem_v': mem_axes},
                                opset=self.opset).values()
        n, t = feat.shape[0], 2  # two earlier positions in the traced cache: no size of 0 or 1 traced in
        cache_k = torch.randn(mem_k.shape[0], n, mem_k.shape[2], t, mem_k.shape[4],
                              generator=torch.Generator().manual_seed(1))
        cache_v = torch.randn(mem_v.shape[0], n, mem_v.shape[2], t, mem_v.shape[4],
                              generator=torch.Generator().manual_seed(2))
        mask = torch.ones(n, 1, 1, mem_k.shape[3], dtype=torch.bool)
        mask[0, ..., mem_k.shape[3] // 2:] = False
        inputs = (torch.tensor([decoder.codec.start_idx, 0], dtype=torch.int64), torch.tensor([t], dtype=torch.int64),
                  cache_k, cache_v, mem_k, mem_v, mask)
        cache_axes = {1: 'batch', 3: 'steps'}
        g = DECODER_GRAPHS['step']
        written += export_graph(DecoderStepGraph(decoder), inputs, out, g['stem'], formats=self.formats,
                                input_names=g['inputs'], output_names=g['outputs'],
                                dynamic_axes={'tokens': {0: 'batch'}, 'cache_k': cache_axes, 'cache_v': cache_axes,
                                              'mem_k': mem_axes, 'mem_v': mem_axes,
                                              'mem_mask': {0: 'batch', 3: 'memory'}, 'logits': {0: 'batch'},
                                              'next_cache_k': cache_axes, 'next_cache_v': cache_axes},
                                opset=self.opset).values()
        return written


# -- inference ---------------------------------------------------------------------------------------------------
class GraphRunner:
    """One exported graph with several inputs and outputs on onnxruntime or TorchScript:
    ``runner(*tensors) -> tuple of CPU tensors`` (outputs in the graph's order)."""

    def __init__(self, path: Path, backend: str, device: torch.device, num_threads: int | None = None) -> None:
        if not path.is_file():
            raise FileNotFoundError(f'{path} not found: the export in {path.parent} is incomplete (export it again '
                                    f'with --format {BACKENDS[backend]})')
        self.backend, self.device = backend, device
        if backend == 'onnxruntime':
            self.session = load_graph(path, backend, device, num_threads)
            self.input_names = [i.name for i in self.session.get_inputs()]
        else:
            self.module = load_graph(path, backend, device, num_threads)

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.backend == 'onnxruntime':
            feed = {n: t.detach().cpu().numpy() for n, t in zip(self.input_names, inputs)}
            return tuple(torch.from_numpy(o) for o in self.session.run(None, feed))
        with torch.no_grad():
            out = self.module(*(t.to(self.device) for t in inputs))
        return tuple(o.cpu() for o in (out if isinstance(out, (tuple, list)) else (out,)))


class ExportedNRTRDecoder:
    """An ``NRTRDecoder`` whose layers are the exported graphs: ``memory`` runs the memory graph, ``_step`` the
    step graph; ``greedy``, ``beam_search`` and ``predict`` ARE ``NRTRDecoder``'s (the same functions), so the
    decoding loop, its stopping rule and the reading of texts and scores are the checkpoint path's."""

    greedy = NRTRDecoder.greedy
    beam_search = NRTRDecoder.beam_search
    predict = NRTRDecoder.predict

    def __init__(self, codec: AttentionCodec, num_layers: int, memory: GraphRunner, step: GraphRunner,
                 beam_width: int | None = None) -> None:
        self.codec, self.max_seq_len, self.beam_width = codec, codec.max_seq_len, beam_width
        self.layer_stack = range(int(num_layers))  # greedy / beam_search make one cache per layer
        self.memory_graph, self.step_graph = memory, step

    def memory(self, feat: torch.Tensor, valid_fracs: Sequence[float] | None = None
               ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
        _, mask = attention_memory(feat, valid_fracs, 'AttentionRecogPredictor')
        mem_k, mem_v = self.memory_graph(feat)
        return list(zip(mem_k.unbind(0), mem_v.unbind(0))), mask

    def _step(self, tokens: torch.Tensor, pos: int, caches: list, mem_kv: list, mask: torch.Tensor | None
              ) -> torch.Tensor:
        mem_k = torch.stack([k for k, _ in mem_kv])
        mem_v = torch.stack([v for _, v in mem_kv])
        n = tokens.shape[0]
        if caches[0][0] is None:  # the first step: no earlier positions
            cache_k = mem_k.new_zeros(mem_k.shape[0], n, mem_k.shape[2], 0, mem_k.shape[4])
            cache_v = mem_v.new_zeros(mem_v.shape[0], n, mem_v.shape[2], 0, mem_v.shape[4])
        else:
            cache_k = torch.stack([c[0] for c in caches])
            cache_v = torch.stack([c[1] for c in caches])
        if mask is None:
            mask = torch.ones(n, 1, 1, mem_k.shape[3], dtype=torch.bool)
        logits, next_k, next_v = self.step_graph(tokens, torch.tensor([pos], dtype=torch.int64), cache_k, cache_v,
                                                 mem_k, mem_v, mask)
        for cache, k, v in zip(caches, next_k.unbind(0), next_v.unbind(0)):
            cache[0], cache[1] = k, v
        return logits


class AttentionRecogPredictor(CropRecogniser):
    """Text recognition with an exported attention recogniser (NRTR-style; see the module docstring).

    Args:
        model_dir: a directory written by :func:`visioncraft.export.export_model` for an attention recogniser
            (``task`` ``'textrecog'``, ``postprocess.type`` ``'AttentionCodec'``).
        backend: ``'onnxruntime'`` (the ``.onnx`` graphs) or ``'torchscript'`` (the ``.pt`` graphs).
        device: ``'cpu'`` or ``'cuda[:N]'``.
        beam_width: overrides the exported decoder's / codec's search (1 = greedy, > 1 = beam search).
        num_threads: onnxruntime's intra-op threads.

    The interface of :class:`~visioncraft.export.TextRecogPredictor`: ``predictor(crop)`` -> ``(text, score,
    char_scores)``, ``predictor([crop, ...])`` -> one such tuple per crop, all crops one right-padded batch
    (each crop's cross attention kept off its padding by its ``valid_ratio``, as in the checkpoint path).
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 beam_width: int | None = None, num_threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        where = self.model_dir / INFERENCE_JSON
        post = dict(self.info['postprocess'])
        if self.info.get('task') != 'textrecog' or post.get('type') != 'AttentionCodec':
            raise ValueError(f'{where}: task {self.info.get("task")!r} with postprocess.type {post.get("type")!r}; '
                             'AttentionRecogPredictor needs an attention-recogniser export (textrecog, AttentionCodec)')
        self.device, self.backend = check_device(device), backend
        fmt = BACKENDS[backend]
        files = self.info.get('files') or MODEL_FILES
        self.encoder = GraphRunner(self.model_dir / (files.get(fmt) or MODEL_FILES[fmt]), backend, self.device,
                                   num_threads)
        self.input_names = list(self.info.get('inputs') or ['input'])  # exports before valid_fracs: the batch only
        if self.input_names not in (['input'], ['input', 'valid_fracs']):
            raise ValueError(f"{where}: inputs {self.input_names} are not ['input'] or ['input', 'valid_fracs']")
        self.pipeline_cfg, self.pipeline, self.data_preprocessor = build_preprocessing(self.info['preprocess'],
                                                                                       self.device)
        self.codec = AttentionCodec(load_dictionary(self.model_dir, post, where, DICT_FILE),
                                    max_seq_len=post['max_seq_len'],
                                    beam_width=post.get('beam_width', 1))
        for key in ('num_classes', 'start_idx', 'end_idx', 'pad_idx'):
            if key in post and int(post[key]) != getattr(self.codec, key):
                raise ValueError(f'{where}: postprocess.{key} is {post[key]} but the dictionary gives '
                                 f'{getattr(self.codec, key)}')
        dec = dict(post['decoder'])
        graphs = {name: GraphRunner(self.model_dir / (dec['files'].get(name, {}).get(fmt)
                                                      or DECODER_GRAPHS[name]['stem'] + _SUFFIX[fmt]),
                                    backend, self.device, num_threads) for name in DECODER_GRAPHS}
        self.decoder = ExportedNRTRDecoder(self.codec, dec['num_layers'], graphs['memory'], graphs['step'],
                                           beam_width=beam_width if beam_width is not None else dec.get('beam_width'))

    def forward(self, batch: torch.Tensor, valid_fracs: Sequence[float] | None = None) -> torch.Tensor:
        """The encoder output of the preprocessed batch (float32, CPU). ``valid_fracs``: each crop's share of the
        batch width (None: all 1.0), given to an encoder graph that takes it as float64."""
        inputs = [batch.detach().float()]
        if len(self.input_names) == 2:
            fracs = [1.0] * batch.shape[0] if valid_fracs is None else [float(f) for f in valid_fracs]
            if len(fracs) != batch.shape[0]:
                raise ValueError(f'{type(self).__name__}: {len(fracs)} valid fractions for a batch of '
                                 f'{batch.shape[0]}')
            inputs.append(torch.tensor(fracs, dtype=torch.float64))
        return self.encoder(*inputs)[0].float()

    def predict(self, crops: list[np.ndarray]) -> list[tuple[str, float, list]]:
        if not crops:
            return []
        batch, samples = self.preprocess(list(crops))
        fracs = EncoderDecoderRecognizer.valid_fractions(batch, samples)
        return self.postprocess(self.forward(batch, fracs), batch, samples)

    def postprocess(self, feat: torch.Tensor, batch: torch.Tensor, samples: list) -> list[tuple[str, float, list]]:
        """``NRTRDecoder.predict`` over the exported graphs, with each crop's share of the batch width
        (``EncoderDecoderRecognizer.valid_fractions``)."""
        fracs = EncoderDecoderRecognizer.valid_fractions(batch, samples)
        return self.decoder.predict(feat, samples, fracs)

