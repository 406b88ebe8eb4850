"""The numbers PaddleOCR configs write as arithmetic (``scale: 1./255.``), evaluated safely (no ``eval``)."""
from __future__ import annotations

import ast
import operator
from typing import Any

from visioncraft.config.config import ConfigError

__all__ = ['parse_number_expr']

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return -_evaluate(node.operand) if isinstance(node.op, ast.USub) else _evaluate(node.operand)
    raise ValueError(node)


def parse_number_expr(value: Any, where: str) -> float:
    """A number, or a string of plain arithmetic PaddleOCR writes (``'1./255.'``), evaluated safely."""
    if isinstance(value, bool):
        raise ConfigError(f'{where}: expected a number, got {value!r}')
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f'{where}: expected a number or an expression such as "1./255.", got {value!r}')
    try:
        return _evaluate(ast.parse(value.strip(), mode='eval'))
    except (SyntaxError, ValueError, ZeroDivisionError):
        raise ConfigError(f'{where}: {value!r} is not a number or a plain arithmetic expression') from None
