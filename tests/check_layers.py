"""Check that VisionCraft's layers only import downwards (../shared/STYLE.md): run it, it prints each upward
import and exits 1 when there is one."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'visioncraft'

# lower number = lower layer; a module may import its own layer and the ones below
LAYERS = {
    'registry': 0, 'errors': 0, 'argparsing': 0, 'dist': 0, 'fileio': 0, 'structures': 0, 'config': 0, 'version': 0, 'model_index': 0,
    'data': 1, 'models': 1, 'evaluation': 1, 'visualization': 1,
    'engine': 2,
    'tasks': 3,
    'apis': 4, 'export': 4, 'analysis': 4,
    'serve': 5,
    'cli': 6,
}


def part_of(module: str) -> str | None:
    parts = module.split('.')
    if parts[0] != 'visioncraft':
        return None
    if len(parts) == 1:
        return ''
    return parts[1]


def resolve(current: str, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ''
    else:
        pkg = current.split('.')
        base = '.'.join(pkg[:len(pkg) - node.level] + ([node.module] if node.module else []))
    if node.module is None or node.level and not node.module:
        return [f'{base}.{a.name}' for a in node.names]
    return [base]


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE.parent).with_suffix('')
        parts = list(rel.parts)
        is_pkg = parts[-1] == '__init__'
        if is_pkg:
            parts = parts[:-1]
        module = '.'.join(parts)
        current = module if is_pkg else module  # relative imports resolve against the package
        pkg_for_rel = module if is_pkg else '.'.join(parts[:-1])
        mine = part_of(module)
        if mine == '' or mine not in LAYERS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = resolve(pkg_for_rel + '.x', node)
            for t in targets:
                theirs = part_of(t)
                if theirs in (None, '') or theirs not in LAYERS:
                    continue
                if LAYERS[theirs] > LAYERS[mine]:
                    out.append(f'{path.relative_to(PACKAGE.parent)}:{node.lineno}: {mine} (layer {LAYERS[mine]}) '
                               f'imports {t} ({theirs}, layer {LAYERS[theirs]})')
                elif mine == 'tasks' and theirs == 'tasks':
                    a, b = module.split('.')[2:3], t.split('.')[2:3]
                    if a and b and a != b:
                        out.append(f'{path.relative_to(PACKAGE.parent)}:{node.lineno}: tasks.{a[0]} imports '
                                   f'{t} (another task; go through visioncraft.apis)')
    return out


if __name__ == '__main__':
    found = violations()
    print('\n'.join(found) or 'no upward imports')
    sys.exit(1 if found else 0)
