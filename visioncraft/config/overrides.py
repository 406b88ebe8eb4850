"""Command-line overrides: ``--cfg-options optim_wrapper.optimizer.lr=0.01 model.backbone.depth=101``.

:func:`parse_override_value` turns the text after ``=`` into a Python value; :class:`DictAction`
collects ``KEY=VALUE`` items into a dict that :meth:`Config.merge_from_dict` applies.

Value syntax (each element of a container is parsed the same way, recursively)::

    None, none, null          -> None
    true, True, false, False  -> bool
    3, -2, 1_000              -> int
    0.1, 1e-3, inf, nan       -> float
    'text' or "text"          -> the string between the quotes, never converted ('1' stays a string)
    [a, b]  or  a,b  or  a,   -> list   (a trailing comma makes a one-element list; [] is empty)
    (a, b)  or  (a,)  or (a)  -> tuple  (parentheses always make a tuple)
    {a: 1, b: 2}              -> dict   (keys are strings)
    [(1,2),(3,4)]             -> list of tuples
    anything else             -> the string itself

Quote a string that contains commas or brackets, or that would otherwise become a number or a
keyword: ``work_dir="'runs/a,b'"``. Unbalanced brackets or quotes are an error, not a string.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

__all__ = ['parse_override_value', 'DictAction']

_NONE = {'None', 'none', 'null'}
_TRUE = {'true', 'True'}
_FALSE = {'false', 'False'}
_INT = re.compile(r'[+-]?\d+(_\d+)*')
_FLOAT = re.compile(r'[+-]?(\d+(_\d+)*\.?(\d+(_\d+)*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)')
_OPEN = {'[': ']', '(': ')', '{': '}'}
_CLOSE = {v: k for k, v in _OPEN.items()}


def _scan(text: str) -> list[tuple[int, str, int]]:
    """Return ``(index, char, depth)`` for every bracket and top-level comma/colon outside quotes.

    ``depth`` is the nesting depth before an opening bracket / after a closing one. Raises
    ``ValueError`` for unbalanced brackets or an unterminated quote.
    """
    marks: list[tuple[int, str, int]] = []
    stack: list[str] = []
    quote = ''
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ''
            continue
        if ch in '\'"':
            quote = ch
        elif ch in _OPEN:
            marks.append((i, ch, len(stack)))
            stack.append(ch)
        elif ch in _CLOSE:
            if not stack or stack[-1] != _CLOSE[ch]:
                raise ValueError(f'unbalanced {ch!r} at position {i} in {text!r}')
            stack.pop()
            marks.append((i, ch, len(stack)))
        elif ch in ',:' and not stack:
            marks.append((i, ch, 0))
    if quote:
        raise ValueError(f'unterminated {quote} quote in {text!r}')
    if stack:
        raise ValueError(f'unclosed {stack[-1]!r} in {text!r}')
    return marks


def _split(text: str, sep: str) -> list[str]:
    """Split at top-level ``sep`` (',' or ':'), outside brackets and quotes."""
    cuts = [i for i, ch, depth in _scan(text) if ch == sep and depth == 0]
    parts, start = [], 0
    for cut in cuts:
        parts.append(text[start:cut])
        start = cut + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _elements(text: str, whole: str) -> list[str]:
    """Comma-separated elements of ``text``; one trailing comma is allowed, other empty elements are not."""
    if not text.strip():
        return []
    parts = _split(text, ',')
    if len(parts) > 1 and parts[-1] == '':
        parts.pop()
    if any(p == '' for p in parts):
        raise ValueError(f'empty element in {whole!r}')
    return parts


def _is_group(text: str) -> bool:
    """True when the bracket opening ``text`` is the one that closes it at the last character."""
    if len(text) < 2 or text[0] not in _OPEN or text[-1] != _OPEN[text[0]]:
        return False
    for i, ch, depth in _scan(text):
        if depth == 0 and ch in _CLOSE:
            return i == len(text) - 1
    return False


def _is_quoted(text: str) -> bool:
    return len(text) >= 2 and text[0] in '\'"' and text.find(text[0], 1) == len(text) - 1


def parse_override_value(text: str) -> Any:
    """Turn the text of one ``KEY=VALUE`` override into a Python value (see the module docstring).

    Raises:
        ValueError: unbalanced brackets or quotes, an empty element (``'a,,b'``) or a dict item
            without ``:``.
    """
    s = text.strip()
    if _is_quoted(s):
        return s[1:-1]
    if s in _NONE:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    if _INT.fullmatch(s):
        return int(s)
    if _FLOAT.fullmatch(s) and s not in ('+', '-', '.'):
        return float(s)
    if _is_group(s):
        inner = s[1:-1]
        if s[0] == '{':
            out = {}
            for item in _elements(inner, s):
                key, *rest = _split(item, ':')
                if len(rest) != 1 or not key:
                    raise ValueError(f'dict item {item!r} in {s!r} is not KEY:VALUE')
                parsed_key = key[1:-1] if _is_quoted(key) else key
                out[parsed_key] = parse_override_value(rest[0])
            return out
        items = [parse_override_value(e) for e in _elements(inner, s)]
        return tuple(items) if s[0] == '(' else items
    parts = _elements(s, s)  # also validates brackets and quotes
    if len(parts) > 1 or s.endswith(','):
        return [parse_override_value(p) for p in parts]
    return s


class DictAction(argparse.Action):
    """``argparse`` action that collects ``KEY=VALUE`` items into a dict.

    Values go through :func:`parse_override_value`. ``nargs`` defaults to ``'+'``; repeating the
    flag adds to the same dict (a later item for the same key wins)::

        parser.add_argument('--cfg-options', '-o', nargs='+', action=DictAction, default={})
        # -o model.backbone.depth=101 -o 'train_dataloader.batch_size=4'
        # -> {'model.backbone.depth': 101, 'train_dataloader.batch_size': 4}

    An item without ``=`` (or with an empty key or a malformed value) is a usage error that names it.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, nargs: Any = '+', **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=nargs, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        flag = option_string or self.dest
        options = dict(getattr(namespace, self.dest, None) or {})  # copy: never mutate the default
        for item in [values] if isinstance(values, str) else list(values or []):
            key, sep, raw = item.partition('=')
            key = key.strip()
            if not sep or not key:
                parser.error(f'{flag}: expected KEY=VALUE, got {item!r}')
            try:
                options[key] = parse_override_value(raw)
            except ValueError as exc:
                parser.error(f'{flag}: cannot parse the value of {item!r}: {exc}')
        setattr(namespace, self.dest, options)
