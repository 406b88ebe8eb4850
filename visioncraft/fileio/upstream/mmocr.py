"""MMOCR checkpoint names -> ours (see the package docstring), and MMOCR 0.x's CTC class order -> ours.

MMOCR 1.x names are ours, but for MMCV's ``ConvModule``: the :mod:`.mmdet` rules cover a lone conv, and FPNC's
conv + BN + ReLU layers (``bn_re_on_lateral`` / ``bn_re_on_smooth`` / ``conv_after_concat``), which we keep as a
``Sequential``, take ``.conv`` -> ``.0`` and ``.bn`` -> ``.1`` here. MMOCR 0.x differs in one place more for
the models VisionCraft has: its text detectors (DBNet, DBNet++; built on MMDetection 2.x's single-stage detector)
call the head ``bbox_head``, 1.x and VisionCraft ``det_head``. The 0.x recognisers (CRNN's ``VeryDeepVgg`` +
``CRNNDecoder``, NRTR with ``NRTRModalityTransform`` or ``ResNet31OCR``) already use the 1.x parameter names.

Class order of CTC recognisers (:func:`reorder_mmocr0x_ctc_classes`). MMOCR 0.x's ``CTCConvertor`` numbers the
classes ``<BLK>`` (the blank, class 0), the characters (``1 .. n``), then ``<UKN>`` with ``with_unknown``; 1.x and
VisionCraft (``Dictionary(with_padding=True)``, ``CTCPostProcessor``) number the characters ``0 .. n-1``, then
``<PAD>`` (the blank), then ``<UKN>``. A 0.x CRNN file has the same names and shapes as a 1.x one, so only its
``meta`` tells them apart (:func:`mmocr_checkpoint_generation`): ``mmocr_version`` ``0.*`` (0.x's ``tools/train.py``
writes it), an ``mmcv_version`` below 2 (MMCV 1.x's runner, which 1.x no longer uses), or a ``CLASSES`` entry
without MMEngine's / our keys (0.x's ``publish_model.py`` leaves ``meta = {'CLASSES': 0}``). For such a file the
rows (and bias) of each ``CRNNDecoder``'s classifier (``decoder.weight``: the 1x1 conv; with ``rnn_flag``
``decoder.1.embedding.weight``: the last LSTM's linear layer) are put into our order, so the logits equal 0.x's
column for column in our class order and the strings read the same. A file whose meta tells nothing (a bare state
dict) is loaded as it is, with a warning saying how to mark it as 0.x.

Not converted: the special-token order of 0.x's attention recognisers (``AttnConvertor``: characters, ``<UKN>``,
``<BOS/EOS>``, ``<PAD>``; 1.x: characters, ``<BOS/EOS>``, ``<PAD>``, ``<UKN>``): the characters agree, and with
``with_unknown=False`` everything agrees, but a 0.x NRTR / SAR with ``<UKN>`` reads its special tokens shuffled.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch
from torch import nn

from . import register_rules

__all__ = ['mmocr_checkpoint_generation', 'reorder_mmocr0x_ctc_classes', 'MMOCR0X_CTC_DECODERS']

_FPNC_CBR = r'^((?:.+\.)?neck\.(?:lateral_convs\.\d+|smooth_convs\.\d+|out_conv))'

register_rules('mmocr', [
    (r'^bbox_head\.(.+)$', r'det_head.\1'),                 # MMOCR 0.x text detectors' head
    (_FPNC_CBR + r'\.conv\.(weight|bias)$', r'\1.0.\2'),     # FPNC ConvModule(conv, BN, ReLU) -> Sequential
    (_FPNC_CBR + r'\.bn\.(weight|bias|running_mean|running_var|num_batches_tracked)$', r'\1.1.\2'),
])

#: our decoders that MMOCR 0.x also had with a CTC (blank-first) label convertor: their classifier is reordered
MMOCR0X_CTC_DECODERS = ('CRNNDecoder',)
#: meta keys that only MMEngine (MMOCR 1.x) or VisionCraft write: the file's classes are in our order
_NEW_META_KEYS = ('mmengine_version', 'visioncraft_version', 'dataset_meta')

_logger = logging.getLogger('visioncraft')


def _major(version) -> int | None:
    m = re.match(r'\s*v?(\d+)\.', str(version)) if isinstance(version, str) else None
    return int(m.group(1)) if m else None


def mmocr_checkpoint_generation(meta: Mapping | None) -> str | None:
    """``'0.x'``, ``'1.x'`` (MMOCR 1.x, MMEngine or VisionCraft: our class order) or None (cannot tell) for a
    checkpoint's ``meta`` dict; see the module docstring for the signs read."""
    if not isinstance(meta, Mapping):
        return None
    major = _major(meta.get('mmocr_version'))
    if major is not None:
        return '0.x' if major == 0 else '1.x'
    if any(k in meta for k in _NEW_META_KEYS):
        return '1.x'
    major = _major(meta.get('mmcv_version'))
    if major is not None:
        return '0.x' if major < 2 else '1.x'
    if 'CLASSES' in meta:  # MMCV 1.x-era convention (1.x keeps dataset_meta instead)
        return '0.x'
    return None


def _classifier(decoder: nn.Module, num_classes: int) -> tuple[str, nn.Module] | None:
    """``(name under the decoder, layer)`` of the last Linear / Conv2d of ``decoder`` with ``num_classes``
    outputs (MMOCR's ``CRNNDecoder``: ``decoder`` itself, the 1x1 conv, or ``decoder.1.embedding``)."""
    found = None
    for name, layer in decoder.named_modules():
        if isinstance(layer, nn.Linear) and layer.out_features == num_classes or \
                isinstance(layer, nn.Conv2d) and layer.out_channels == num_classes:
            found = (name, layer)
    return found


def _blank_first_order(codec) -> list[int] | None:
    """For each of our classes its MMOCR 0.x ``CTCConvertor`` index (``perm[our] = theirs``), or None when our
    layout has tokens 0.x's CTC layout has not (start / end) or is not MMOCR's (blank = padding)."""
    d = getattr(codec, 'dictionary', None)
    if getattr(codec, 'blank', None) != 'padding' or d is None or d.padding_idx is None \
            or d.start_idx is not None or d.end_idx is not None:
        return None
    n = len(d.chars)
    perm = []
    for j in range(codec.num_classes):
        if j < n:
            perm.append(j + 1)                 # characters: after 0.x's <BLK>
        elif j == d.padding_idx:
            perm.append(0)                     # our blank (<PAD>) is 0.x's <BLK>
        elif j == d.unknown_idx:
            perm.append(n + 1)                 # <UKN> is last in both
        else:
            return None
    return perm if sorted(perm) == list(range(len(perm))) else None


def reorder_mmocr0x_ctc_classes(state_dict: dict, model: nn.Module, meta: Mapping | None, *,
                                source=None, logger: logging.Logger | None = None) -> tuple[dict, list[str]]:
    """``(state_dict, reordered keys)``: for an MMOCR 0.x checkpoint (by ``meta``:
    :func:`mmocr_checkpoint_generation`), the classifier rows and bias of each :data:`MMOCR0X_CTC_DECODERS` module
    of ``model`` put from 0.x's blank-first order into ours (``out[k] = theirs[perm[k]]``, a new dict; the input is
    not changed). Keys are the model's (renamed already). Nothing changes for a 1.x / VisionCraft file, for a tensor
    of another class count (the loader reports the shape), or when ``meta`` is None (no checkpoint file behind the
    state dict). A ``meta`` that tells nothing (``{}``: a bare state dict) changes nothing either, with a warning
    when the model has such a decoder whose classifier the file holds."""
    if meta is None:
        return state_dict, []
    log = logger or _logger
    what = f'checkpoint {source}' if source is not None else 'the checkpoint'
    targets = []  # (key prefix, perm)
    for name, module in model.named_modules():
        if type(module).__name__ not in MMOCR0X_CTC_DECODERS or not hasattr(module, 'codec'):
            continue
        codec = module.codec
        found = _classifier(module, codec.num_classes)
        perm = _blank_first_order(codec)
        if found is None or perm is None:
            continue
        layer_name = '.'.join(p for p in (name, found[0]) if p)
        keys = [f'{layer_name}.{leaf}' for leaf in ('weight', 'bias') if getattr(found[1], leaf, None) is not None]
        keys = [k for k in keys if torch.is_tensor(state_dict.get(k)) and state_dict[k].shape[:1] == (len(perm),)]
        if keys:
            targets.append((keys, perm, name or type(module).__name__))
    if not targets:
        return state_dict, []
    generation = mmocr_checkpoint_generation(meta)
    if generation == '1.x':
        return state_dict, []
    if generation is None:
        log.warning(
            f'{what}: cannot tell an MMOCR 0.x file from a 1.x / VisionCraft one (its meta has no mmocr_version, '
            'mmcv_version, mmengine_version or visioncraft_version); the CTC classes of '
            f'{", ".join(t[2] for t in targets)} are loaded in 1.x order (blank last). If it comes from MMOCR 0.x (blank first), the strings would read '
            "shifted by one: mark it with ckpt.setdefault('meta', {})['mmocr_version'] = '0.6.3' and torch.save it")
        return state_dict, []
    out = dict(state_dict)
    done = []
    for keys, perm, _ in targets:
        index = torch.tensor(perm, dtype=torch.long)
        for k in keys:
            out[k] = state_dict[k].index_select(0, index.to(state_dict[k].device))
            done.append(k)
    log.info(f'{what}: MMOCR 0.x file: CTC classes reordered from blank-first to blank-last ({", ".join(done)})')
    return out, done
