"""visioncraft.config.checks (the value checks the builders use), duplicate keys in YAML / JSON configs, YAML 1.2
floats, and misspelt top-level keys (a warning naming the closest known key; an error with strict_config)."""
from __future__ import annotations

import difflib
import json
import random
import string
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from visioncraft.config import Config, ConfigError, load_paddleocr_config
from visioncraft.config.checks import (KNOWN_TOP_LEVEL_KEYS, RUNNER_KEYS, TYPO_CUTOFF, ConfigValueError, check_bool,
                                       check_int, check_int_list, check_number, top_level_key_report,
                                       unknown_top_level_keys)
from visioncraft.config.config import load_yaml
from visioncraft.errors import UserError, is_user_error, user_error_message
from visioncraft.registry import config_file_context

SEED = 99


# -- the checks -----------------------------------------------------------------------------------------------------
def test_check_int_accepts_ints_and_integral_floats_only():
    assert check_int(3, 'a.b', low=1) == 3 and check_int(3.0, 'a.b', low=1) == 3 and check_int(1e4, 'a', low=1) == 10000
    assert check_int(-1, 'a', low=1, also=(-1,)) == -1 and check_int(None, 'a', none=True) is None
    for bad in (1.5, '3', True, False, None, float('inf'), float('nan'), [1], 0, -4):
        with pytest.raises(ConfigValueError, match=r'^a\.b must be an integer >= 1, got '):
            check_int(bad, 'a.b', low=1)


def test_check_number_bounds_and_types():
    assert check_number(0.01, 'lr', low=0) == 0.01 and check_number(0, 'lr', low=0) == 0
    assert check_number(float('inf'), 'p', low=0, strict=True, finite=False) == float('inf')
    for bad, pattern in ((-1, r'must be a finite number > 0, got -1$'), (0, r'got 0$'), ('0.01', 'without quotes'),
                         (True, r'\(a bool\)'), (float('nan'), 'got nan'), (float('inf'), 'got inf'), (None, 'None')):
        with pytest.raises(ConfigValueError, match=pattern):
            check_number(bad, 'optim_wrapper.clip_grad.max_norm', low=0, strict=True)
    with pytest.raises(ConfigValueError, match=r'in \(0, 1\)'):
        check_number(1, 'x', low=0, high=1, strict=True)


def test_check_bool_and_int_list():
    assert check_bool(False, 'k') is False and check_bool(None, 'k', none=True) is None
    for bad in ('False', 0, 1, 'yes', None):
        with pytest.raises(ConfigValueError, match='k must be True or False'):
            check_bool(bad, 'k')
    assert check_int_list((8, 11.0), 'm', low=0) == [8, 11]
    with pytest.raises(ConfigValueError, match=r'^m\.1 must be an integer >= 0, got 11\.5$'):
        check_int_list([8, 11.5], 'm', low=0)
    for bad in ('8', 8, {'a': 1}):
        with pytest.raises(ConfigValueError, match='^m must be a list of integers'):
            check_int_list(bad, 'm', low=0)


def test_errors_name_the_config_file_and_are_one_line_user_errors():
    with config_file_context('/x/cfg.py'), pytest.raises(ConfigValueError) as exc:
        check_int('3', 'train_cfg.max_epochs', low=1)
    err = exc.value
    assert isinstance(err, (ConfigError, UserError, ValueError, TypeError)) and is_user_error(err)
    assert user_error_message(err) == ("error: /x/cfg.py: train_cfg.max_epochs must be an integer >= 1, got '3' "
                                       "(a string: write the number without quotes)")


# -- duplicate keys -------------------------------------------------------------------------------------------------
def _random_mapping(rng: random.Random, depth: int = 0) -> dict:
    out = {}
    for _ in range(rng.randint(2, 5)):
        key = ''.join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 8)))
        if depth < 2 and rng.random() < 0.4:
            out[key] = _random_mapping(rng, depth + 1)
        else:
            out[key] = rng.choice([rng.randint(-9, 99), round(rng.uniform(0, 1), 3), 'text', [1, 2], None, True])
    return out


def _paths(d: dict, prefix: str = '') -> list[tuple[str, dict, str]]:
    """(dotted key path, the mapping holding it, its key) for every key."""
    out = []
    for k, v in d.items():
        full = f'{prefix}.{k}' if prefix else k
        out.append((full, d, k))
        if isinstance(v, dict):
            out += _paths(v, full)
    return out


@pytest.mark.parametrize('case', range(12))
def test_generated_yaml_with_a_key_set_twice_is_an_error_naming_key_and_both_lines(tmp_path, case):
    rng = random.Random(SEED * 100 + case)
    data = _random_mapping(rng)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    full, parent, key = rng.choice(_paths(data))
    lines = text.splitlines()
    # the line of that key (keys are unique random words; its depth tells the indentation)
    indent = '  ' * full.count('.')
    first = next(i for i, ln in enumerate(lines) if ln.startswith(f'{indent}{key}:')
                 and _line_path(lines, i) == full)
    value = rng.choice(['1', 'again', '[3, 4]', '{z: 1}'])
    lines.insert(first + 1 + _block_length(lines, first), f'{indent}{key}: {value}')
    second = first + 1 + _block_length(lines, first)
    path = tmp_path / f'dup_{case}.yaml'
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConfigError) as exc:
        Config.fromfile(path)
    msg = str(exc.value)
    assert str(path) in msg and f'duplicate key {full!r}' in msg and f'lines {first + 1} and {second + 1}' in msg
    assert user_error_message(exc.value).count('\n') == 0


def _line_path(lines: list[str], i: int) -> str:
    """The dotted key path of the block-mapping key on line ``i`` of a safe_dump'ed YAML."""
    parts, depth = [], (len(lines[i]) - len(lines[i].lstrip())) // 2
    parts.append(lines[i].strip().split(':')[0])
    for j in range(i - 1, -1, -1):
        d = (len(lines[j]) - len(lines[j].lstrip())) // 2
        if d < depth and not lines[j].lstrip().startswith('-'):
            parts.append(lines[j].strip().split(':')[0])
            depth = d
    return '.'.join(reversed(parts))


def _block_length(lines: list[str], i: int) -> int:
    """How many lines after line ``i`` belong to its value (deeper indentation, or list items under it)."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    n = 0
    for ln in lines[i + 1:]:
        ind = len(ln) - len(ln.lstrip())
        if ind > indent or (ind == indent and ln.lstrip().startswith('- ')):
            n += 1
        else:
            break
    return n


def test_yaml_duplicates_in_flow_mappings_lists_and_bases(tmp_path):
    (tmp_path / 'base.yaml').write_text('model:\n  type: A\n  depth: 50\n  depth: 101\n')
    child = tmp_path / 'child.yaml'
    child.write_text('_base_: base.yaml\nlr: 0.1\n')
    with pytest.raises(ConfigError, match=r"base\.yaml: duplicate key 'model\.depth' at lines 3 and 4.*a _base_ of"):
        Config.fromfile(child)
    with pytest.raises(ConfigError, match=r"duplicate key 'pipeline\.1\.scale' at lines 3 and 3"):
        load_yaml('pipeline:\n  - {type: A}\n  - {type: B, scale: 1, scale: 2}\n', 'f.yaml')
    # merge keys and the same key in different mappings are not duplicates
    assert load_yaml('a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\nc: {k: 3}\n') == {'a': {'k': 1}, 'b': {'k': 2}, 'c': {'k': 3}}
    assert load_yaml('1: a\n"1": b\n') == {1: 'a', '1': 'b'}


def test_json_duplicate_keys_are_an_error(tmp_path):
    path = tmp_path / 'cfg.json'
    path.write_text(json.dumps({'a': 1})[:-1] + ', "model": {"x": 1, "x": 2}}')
    with pytest.raises(ConfigError, match=r"cfg\.json: duplicate key 'x' in one JSON object"):
        Config.fromfile(path)


def test_paddleocr_yaml_with_a_duplicate_key_is_an_error(tmp_path):
    text = (REPO / 'configs/det/det_tiny_synth.yml').read_text()
    assert '\nGlobal:\n' in text
    path = tmp_path / 'det.yml'
    path.write_text(text.replace('\nGlobal:\n', '\nGlobal:\n  epoch_num: 7\n', 1) + '\nGlobal:\n  epoch_num: 2\n')
    with pytest.raises(ConfigError, match=r"det\.yml: duplicate key 'Global' at lines \d+ and \d+"):
        load_paddleocr_config(path)


def test_yaml_floats_follow_yaml_1_2():
    data = load_yaml("lr: 1e-4\nwd: 5E-5\nbig: 1.0e5\nq: '1e-4'\nn: 3\nf: 0.5\nd: 2024-01-02\nw: 1e\n")
    assert data['lr'] == 1e-4 and data['wd'] == 5e-5 and data['big'] == 1e5 and isinstance(data['big'], float)
    assert data['q'] == '1e-4' and data['n'] == 3 and data['f'] == 0.5 and data['w'] == '1e'
    assert yaml.safe_load('lr: 1e-4\n') == {'lr': '1e-4'}  # the global SafeLoader is left alone


# -- misspelt top-level keys ----------------------------------------------------------------------------------------
def _typos(key: str, rng: random.Random) -> list[str]:
    """A dropped, a doubled and an inserted letter."""
    i = rng.randrange(1, len(key) - 1)
    return [key[:i] + key[i + 1:], key[:i] + key[i] + key[i:], key[:i] + rng.choice('aeiouxz') + key[i:]]


def test_generated_typos_of_runner_keys_are_reported_with_the_closest_key():
    rng = random.Random(SEED)
    for key in sorted(RUNNER_KEYS):
        for typo in _typos(key, rng):
            if typo in KNOWN_TOP_LEVEL_KEYS:
                continue
            found = unknown_top_level_keys({typo: 1, key + '_extra_long_variable_name': 2})
            assert [k for k, _ in found] == [typo], (key, typo, found)
            closest = found[0][1]
            assert difflib.SequenceMatcher(None, typo, closest).ratio() >= TYPO_CUTOFF


def test_variables_far_from_known_keys_are_not_reported():
    cfg = {'img_scale': (640, 640), 'file_client_args': {}, 'icdar2015_textdet_train': {},
           'mjsynth_textrecog_data_root': '',
           'albu_train_transforms': [], 'my_helper': 1, 'dbnet_train_pipeline': [], 'db_codec': {}, 'shapes': 1,
           'train_list': [], 'test_list': [], '_private': 1, 3: 'int key'}
    assert unknown_top_level_keys(cfg) == []


def test_report_warns_and_strict_config_makes_it_an_error():
    cfg = {'model': {}, 'val_evalutor': {}, 'optim_wraper': {}}
    lines = top_level_key_report(cfg, '/x/cfg.py')
    assert lines == [f"/x/cfg.py: unknown top-level key {k!r}: did you mean {c!r}? Nothing reads {k!r}, so it has no "
                     f"effect (set strict_config=True to make this an error)"
                     for k, c in (('val_evalutor', 'val_evaluator'), ('optim_wraper', 'optim_wrapper'))]
    with pytest.raises(ConfigError, match=r"/x/cfg\.py: unknown top-level keys 'val_evalutor' \(did you mean "
                                          r"'val_evaluator'\?\); 'optim_wraper' \(did you mean 'optim_wrapper'\?\)"):
        top_level_key_report(dict(cfg, strict_config=True), '/x/cfg.py')
    assert top_level_key_report({'model': {}, 'strict_config': True}) == []
    with pytest.raises(ConfigValueError, match='strict_config must be True or False'):
        top_level_key_report({'strict_config': 'yes'})


def _config_files(pattern: str) -> list[Path]:
    return sorted(p for p in (REPO / 'configs').rglob(pattern) if '_base_' not in p.parts or pattern == '*.py')


def test_no_config_under_configs_has_a_misspelt_looking_top_level_key():
    """Every .py config in configs/ (bases included) and every PaddleOCR YAML as translated: nothing to warn about."""
    checked = 0
    for path in _config_files('*.py'):
        cfg = Config.fromfile(path, import_custom_modules=False)
        assert unknown_top_level_keys(cfg) == [], path
        assert top_level_key_report(cfg, str(path)) == [], path
        checked += 1
    for path in _config_files('*.yml'):
        assert unknown_top_level_keys(load_paddleocr_config(path)) == [], path
        checked += 1
    assert checked >= 40


def test_known_keys_include_what_the_runner_docstring_lists():
    from visioncraft.engine import runner
    doc = runner.__doc__.split('Recognised top-level keys: ``', 1)[1].split('``', 1)[0]
    listed = {k.strip() for k in textwrap.dedent(doc).replace('\n', ' ').split(',')}
    assert listed <= RUNNER_KEYS, listed - RUNNER_KEYS
