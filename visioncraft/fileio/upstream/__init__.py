"""Checkpoints of MMDetection, MMPose and MMOCR load as they are: their parameter names, where they differ from
ours, are renamed as the checkpoint loads (:func:`convert_upstream_state_dict`, called by
:func:`visioncraft.fileio.checkpoint.load_model_weights` and the fit checks).

Each toolbox contributes renaming rules (:class:`RenameRule`: a regular expression on a key and its replacement) in
its own module (:mod:`.mmdet`, :mod:`.mmocr`, :mod:`.mmpose`). A rule applies to a checkpoint key only when the key
is not one of the model's and the renamed key is, with the same shape: a checkpoint already in our names, or a rule
that does not concern this model, changes nothing. So the converter "applies itself": no flag, no metadata needed,
and a wrong rule cannot make a fitting checkpoint fit worse.

One conversion is not a renaming and needs the file's ``meta``: MMOCR 0.x's CTC recognisers number their classes
blank-first (:func:`.mmocr.reorder_mmocr0x_ctc_classes`, called by ``load_model_weights(..., meta=...)``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ['RenameRule', 'RULES', 'register_rules', 'UpstreamConversion', 'convert_upstream_state_dict']


@dataclass(frozen=True)
class RenameRule:
    """``re.sub(pattern, repl, key)`` for a checkpoint key; ``toolbox`` names where the naming comes from."""

    pattern: str
    repl: str
    toolbox: str

    def apply(self, key: str) -> str | None:
        new, n = re.subn(self.pattern, self.repl, key)
        return new if n else None


#: every toolbox's rules, in order (the first whose result is a model key of the same shape wins)
RULES: list[RenameRule] = []


def register_rules(toolbox: str, rules: list[tuple[str, str]]) -> None:
    """Add ``toolbox``'s ``(pattern, replacement)`` rules to :data:`RULES`."""
    RULES.extend(RenameRule(p, r, toolbox) for p, r in rules)


@dataclass
class UpstreamConversion:
    """What :func:`convert_upstream_state_dict` did: the state dict in the model's names, and ``renamed``
    (``{checkpoint key: model key}``, with ``toolboxes`` the rules' origins)."""

    state_dict: dict
    renamed: dict[str, str] = field(default_factory=dict)
    toolboxes: set[str] = field(default_factory=set)


_OLD_FPN = re.compile(r'^(.*\.)?(output_convs|extra_convs)\.(\d+)\.(.+)$')


def _old_visioncraft_fpn(state_dict: dict) -> dict:
    """Checkpoints of VisionCraft before 0.1 kept an FPN's output convs in ``output_convs.i`` and its extra levels'
    convs in ``extra_convs.j``; today both are one list, ``fpn_convs`` (MMDetection's layout): ``output_convs.i``
    -> ``fpn_convs.i``, ``extra_convs.j`` -> ``fpn_convs.(n + j)`` with ``n`` the number of output convs of that
    FPN in the checkpoint. Other keys pass unchanged (the usual rules and the fit checks then apply)."""
    used: dict[str, int] = {}
    for key in state_dict:
        m = _OLD_FPN.match(key)
        if m and m.group(2) == 'output_convs':
            prefix = m.group(1) or ''
            used[prefix] = max(used.get(prefix, 0), int(m.group(3)) + 1)
    if not used:
        return state_dict
    out = {}
    for key, value in state_dict.items():
        m = _OLD_FPN.match(key)
        if m and (m.group(1) or '') in used:
            prefix, kind, i, rest = m.group(1) or '', m.group(2), int(m.group(3)), m.group(4)
            key = f'{prefix}fpn_convs.{i if kind == "output_convs" else used[prefix] + i}.{rest}'
        out[key] = value
    return out


def convert_upstream_state_dict(state_dict: dict, model_state: dict) -> UpstreamConversion:
    """``state_dict`` with every key that is not in ``model_state`` renamed by the first rule whose result is a key
    of ``model_state`` with the same shape (and not already given by the checkpoint itself)."""
    from . import mmdet, mmocr, mmpose  # noqa: F401  (register their rules)
    if not any('output_convs.' in k for k in model_state):
        old = _old_visioncraft_fpn(state_dict)
        if old is not state_dict:
            renamed0 = {a: b for a, b in zip(state_dict, old) if a != b}
            conv = _convert(old, model_state)
            conv.renamed = {**renamed0, **conv.renamed}
            conv.toolboxes.add('visioncraft<0.1')
            return conv
    return _convert(state_dict, model_state)


def _convert(state_dict: dict, model_state: dict) -> UpstreamConversion:
    out, renamed, toolboxes = {}, {}, set()
    given = set(state_dict)
    for key, value in state_dict.items():
        if key in model_state:
            out[key] = value
            continue
        new = None
        for rule in RULES:
            cand = rule.apply(key)
            if cand is not None and cand in model_state and cand not in given and cand not in out \
                    and tuple(getattr(model_state[cand], 'shape', ())) == tuple(getattr(value, 'shape', ())):
                new = cand
                toolboxes.add(rule.toolbox)
                break
        if new is None:
            out[key] = value
        else:
            out[new] = value
            renamed[key] = new
    return UpstreamConversion(out, renamed, toolboxes)
