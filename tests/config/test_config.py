"""Tests for visioncraft.config: ConfigDict, loading with bases, overrides, DictAction and dumping."""
from __future__ import annotations

import argparse
import ast
import collections
import collections.abc
import copy
import importlib
import json
import os
import pickle
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from visioncraft.config import Config, ConfigDict, ConfigError, DictAction, parse_override_value


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding='utf-8')
    return path


# ---------------------------------------------------------------------------------------------------------
# ConfigDict
# ---------------------------------------------------------------------------------------------------------
class TestConfigDict:
    def test_nested_attribute_access(self):
        cfg = ConfigDict(model=dict(backbone=dict(depth=50)), pipeline=[dict(type='Load'), (dict(k=1),)])
        assert cfg.model.backbone.depth == 50
        assert isinstance(cfg.model, ConfigDict) and isinstance(cfg.model.backbone, ConfigDict)
        assert cfg.pipeline[0].type == 'Load'
        assert isinstance(cfg.pipeline[1], tuple) and cfg.pipeline[1][0].k == 1

    def test_dicts_are_converted_on_every_kind_of_set(self):
        cfg = ConfigDict()
        cfg.a = dict(b=dict(c=1))
        cfg['d'] = [dict(e=2)]
        cfg.update(f=dict(g=3))
        cfg.setdefault('h', dict(i=4))
        cfg |= {'j': dict(k=5)}
        assert (cfg.a.b.c, cfg.d[0].e, cfg.f.g, cfg.h.i, cfg.j.k) == (1, 2, 3, 4, 5)
        merged = cfg | {'z': dict(y=1)}
        assert isinstance(merged, ConfigDict) and merged.z.y == 1 and 'z' not in cfg

    def test_plain_lists_are_kept_as_given(self):
        values = [1, 2, 3]
        cfg = ConfigDict(v=values)
        assert cfg.v is values

    def test_missing_attribute_names_the_key_and_close_keys(self):
        cfg = ConfigDict(backbone=1)
        with pytest.raises(AttributeError, match=r"no key 'backbon'.*'backbone'"):
            _ = cfg.backbon
        assert not hasattr(cfg, 'neck')
        with pytest.raises(KeyError):
            _ = cfg['neck']

    def test_attribute_delete(self):
        cfg = ConfigDict(a=1, b=2)
        del cfg.a
        assert dict(cfg) == {'b': 2}
        with pytest.raises(AttributeError, match="'a'"):
            del cfg.a

    def test_deepcopy_is_independent(self):
        cfg = ConfigDict(model=dict(layers=[dict(c=1)]))
        clone = copy.deepcopy(cfg)
        clone.model.layers[0].c = 2
        assert cfg.model.layers[0].c == 1
        assert isinstance(clone.model.layers[0], ConfigDict)

    def test_shallow_copy_keeps_type_and_shares_children(self):
        cfg = ConfigDict(model=dict(depth=1))
        for clone in (cfg.copy(), copy.copy(cfg)):
            assert isinstance(clone, ConfigDict)
            assert clone.model is cfg.model

    def test_pickle_round_trip(self):
        cfg = ConfigDict(model=dict(backbone=dict(depth=50)), items=[dict(a=(1, 2))])
        back = pickle.loads(pickle.dumps(cfg))
        assert back == cfg
        assert isinstance(back.model.backbone, ConfigDict) and back.model.backbone.depth == 50
        assert back['items'][0].a == (1, 2)

    def test_to_dict_is_plain(self):
        cfg = ConfigDict(model=dict(layers=[dict(c=1)], shape=(dict(h=1),)))
        plain = cfg.to_dict()
        assert type(plain) is dict and type(plain['model']) is dict
        assert type(plain['model']['layers'][0]) is dict
        assert type(plain['model']['shape']) is tuple and type(plain['model']['shape'][0]) is dict
        assert plain == {'model': {'layers': [{'c': 1}], 'shape': ({'h': 1},)}}


# ---------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------
class TestLoadPython:
    def test_module_level_names_become_keys(self, tmp_path):
        path = write(tmp_path, 'cfg.py', """
            import collections
            import os.path as osp
            from collections import OrderedDict

            def helper(x):
                return x * 2

            _private = 3
            depth = helper(25)
            model = dict(type=OrderedDict, backbone=dict(depth=depth), act=abs)
            name = osp.join('a', 'b')
            """)
        cfg = Config.fromfile(path)
        assert set(cfg.keys()) == {'depth', 'model', 'name', 'OrderedDict'}
        assert cfg.model.backbone.depth == 50
        assert cfg.model.type is collections.OrderedDict  # classes as values
        assert cfg.model.act is abs  # functions inside dicts are values too
        assert cfg.name == os.path.join('a', 'b')

    def test_filename_text_and_mapping_interface(self, tmp_path, monkeypatch):
        path = write(tmp_path, 'cfg.py', "a = 1\nb = dict(c=[1, 2])\n")
        monkeypatch.chdir(tmp_path)
        cfg = Config.fromfile('cfg.py')
        assert cfg.filename == str(path) and os.path.isabs(cfg.filename)
        assert cfg.text == "a = 1\nb = dict(c=[1, 2])\n"
        assert 'a' in cfg and 'z' not in cfg
        assert cfg['b'].c == [1, 2] and cfg.b.c == [1, 2]
        assert cfg.get('z', 7) == 7 and cfg.get('a') == 1
        assert list(cfg) == ['a', 'b'] and len(cfg) == 2
        assert dict(cfg.items()) == {'a': 1, 'b': {'c': [1, 2]}}
        assert list(cfg.values())[0] == 1
        assert type(cfg.to_dict()['b']) is dict
        assert isinstance(cfg, collections.abc.Mapping) and dict(cfg) == {'a': 1, 'b': {'c': [1, 2]}}

    def test_setting_and_deleting_keys(self):
        cfg = Config(dict(a=1))
        cfg.b = dict(c=2)
        cfg['d'] = [dict(e=3)]
        assert cfg.b.c == 2 and cfg.d[0].e == 3
        del cfg.a
        del cfg['b']
        assert list(cfg) == ['d']
        with pytest.raises(AttributeError, match="no key 'zz'"):
            _ = cfg.zz

    def test_constructor_checks_its_input(self, tmp_path):
        with pytest.raises(TypeError, match='must be a dict'):
            Config([('a', 1)])
        path = write(tmp_path, 'cfg.py', 'a = 1\n')
        cfg = Config(dict(a=2), filename=os.path.relpath(path))
        assert cfg.filename == str(path) and cfg.text == 'a = 1\n' and cfg.a == 2
        assert Config().to_dict() == {} and Config().filename is None and Config().text == ''

    def test_reserved_top_level_keys_are_rejected(self):
        with pytest.raises(ConfigError, match='filename'):
            Config(dict(filename='x'))
        cfg = Config(dict(a=1))
        with pytest.raises(ConfigError, match='dump'):
            cfg['dump'] = 1
        with pytest.raises(AttributeError, match='text'):
            cfg.text = 'x'

    def test_copy_deepcopy_and_pickle(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "model = dict(depth=50, layers=[1, 2])\n")
        cfg = Config.fromfile(path)
        shallow = cfg.copy()
        shallow.new = 1
        assert 'new' not in cfg and shallow.model is cfg.model
        deep = copy.deepcopy(cfg)
        deep.model.depth = 101
        assert cfg.model.depth == 50 and deep.filename == cfg.filename and deep.text == cfg.text
        back = pickle.loads(pickle.dumps(cfg))
        assert back.to_dict() == cfg.to_dict() and back.filename == cfg.filename
        assert isinstance(back.model, ConfigDict)

    def test_repr_shows_filename_and_pretty_text(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "lr = 0.1\n")
        text = repr(Config.fromfile(path))
        assert str(path) in text and 'lr = 0.1' in text

    def test_missing_attribute_names_file(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "model = 1\n")
        with pytest.raises(AttributeError, match=r"cfg\.py: config has no key 'modle'.*'model'"):
            _ = Config.fromfile(path).modle

    def test_file_name_variables(self, tmp_path):
        path = write(tmp_path, 'sub/retina_r50.py', "work_dir = './work_dirs/{{fileBasenameNoExtension}}'\n"
                                                    "here = '{{fileDirname}}'\n")
        cfg = Config.fromfile(path)
        assert cfg.work_dir == './work_dirs/retina_r50'
        assert cfg.here == str(tmp_path / 'sub').replace('\\', '/')

    def test_fromstring(self):
        assert Config.fromstring('a = dict(b=(1, 2))\n', 'py').a.b == (1, 2)
        assert Config.fromstring('a: {b: 1}\n', '.yaml').a.b == 1
        assert Config.fromstring('{"a": [1]}', 'json').a == [1]


class TestLoadDataFormats:
    @pytest.mark.parametrize('name', ['cfg.yaml', 'cfg.yml'])
    def test_yaml(self, tmp_path, name):
        path = write(tmp_path, name, """
            model:
              backbone: {depth: 50}
            pipeline:
              - type: Load
              - type: Resize
                scale: [640, 640]
            empty: null
            """)
        cfg = Config.fromfile(path)
        assert cfg.model.backbone.depth == 50
        assert cfg.pipeline[1].scale == [640, 640] and cfg.empty is None

    def test_json(self, tmp_path):
        path = write(tmp_path, 'cfg.json', '{"model": {"depth": 50}, "flags": [true, false]}')
        cfg = Config.fromfile(path)
        assert cfg.model.depth == 50 and cfg.flags == [True, False]

    def test_empty_yaml_is_empty_config(self, tmp_path):
        assert len(Config.fromfile(write(tmp_path, 'e.yaml', ''))) == 0

    def test_yaml_base_and_paddle_style_base(self, tmp_path):
        write(tmp_path, 'base.py', "model = dict(depth=50, neck='FPN')\nlr = 0.1\n")
        write(tmp_path, 'mid.yaml', "_BASE_: base.py\nmodel: {depth: 101}\n")
        path = write(tmp_path, 'child.json', '{"_base_": ["mid.yaml"], "lr": 0.2}')
        cfg = Config.fromfile(path)
        assert cfg.to_dict() == {'model': {'depth': 101, 'neck': 'FPN'}, 'lr': 0.2}

    def test_yaml_base_placeholders(self, tmp_path):
        write(tmp_path, 'base.yaml', "pipeline: [{type: Load}]\nname: r50\n")
        path = write(tmp_path, 'child.yaml', """
            _base_: base.yaml
            val_pipeline: '{{_base_.pipeline}}'
            first: '{{ _base_.pipeline.0.type }}'
            work_dir: 'runs/{{_base_.name}}'
            """)
        cfg = Config.fromfile(path)
        assert cfg.val_pipeline == [{'type': 'Load'}] and cfg.first == 'Load'
        assert cfg.work_dir == 'runs/r50'

    def test_both_base_spellings_is_an_error(self, tmp_path):
        write(tmp_path, 'b.yaml', 'a: 1\n')
        path = write(tmp_path, 'c.yaml', '_base_: b.yaml\n_BASE_: b.yaml\n')
        with pytest.raises(ConfigError, match='either _base_ or _BASE_'):
            Config.fromfile(path)


class TestInheritance:
    def test_child_merges_on_top_of_base(self, tmp_path):
        write(tmp_path, '_base_/model.py', """
            model = dict(type='RetinaNet', backbone=dict(type='ResNet', depth=50, out_indices=(1, 2, 3)),
                         neck=dict(type='FPN'))
            pipeline = [dict(type='Load'), dict(type='Resize')]
            """)
        path = write(tmp_path, 'det/retina_r101.py', """
            _base_ = '../_base_/model.py'
            model = dict(backbone=dict(depth=101, out_indices=(3,)))  # deeper backbone
            pipeline = [dict(type='Load')]
            """)
        cfg = Config.fromfile(path)
        assert cfg.model.to_dict() == {'type': 'RetinaNet', 'neck': {'type': 'FPN'},
                                       'backbone': {'type': 'ResNet', 'depth': 101, 'out_indices': (3,)}}
        assert cfg.pipeline == [{'type': 'Load'}]  # lists replace, never merge

    def test_bases_merge_in_order_and_later_base_wins(self, tmp_path):
        write(tmp_path, 'a.py', "x = 1\nshared = dict(p=1, q=1)\n")
        write(tmp_path, 'b.py', "y = 2\nshared = dict(q=2)\n")
        path = write(tmp_path, 'c.py', "_base_ = ['a.py', 'b.py']\nz = 3\n")
        cfg = Config.fromfile(path)
        assert cfg.to_dict() == {'x': 1, 'shared': {'p': 1, 'q': 2}, 'y': 2, 'z': 3}

    def test_multi_level_bases(self, tmp_path):
        write(tmp_path, 'grand.py', "a = dict(x=1, y=1, z=1)\n")
        write(tmp_path, 'parent.py', "_base_ = './grand.py'\na = dict(y=2)\n")
        path = write(tmp_path, 'child.py', "_base_ = ['./parent.py']\na = dict(z=3)\n")
        assert Config.fromfile(path).a.to_dict() == {'x': 1, 'y': 2, 'z': 3}

    def test_delete_replaces_the_base_dict(self, tmp_path):
        write(tmp_path, 'base.py', "optim = dict(type='SGD', lr=0.1, momentum=0.9, nested=dict(k=1))\n")
        path = write(tmp_path, 'child.py', """
            _base_ = 'base.py'
            optim = dict(_delete_=True, type='AdamW', lr=1e-4, nested=dict(_delete_=True, j=2))
            """)
        cfg = Config.fromfile(path)
        assert cfg.optim.to_dict() == {'type': 'AdamW', 'lr': 1e-4, 'nested': {'j': 2}}

    def test_delete_false_merges_and_key_never_survives(self, tmp_path):
        write(tmp_path, 'base.py', "m = dict(a=1)\n")
        path = write(tmp_path, 'child.py', "_base_ = 'base.py'\nm = dict(_delete_=False, b=2)\n"
                                           "other = dict(_delete_=True, c=[dict(_delete_=True)])\n")
        cfg = Config.fromfile(path)
        assert cfg.to_dict() == {'m': {'a': 1, 'b': 2}, 'other': {'c': [{}]}}
        alone = Config.fromfile(write(tmp_path, 'alone.py', "m = dict(_delete_=True, a=1)\n"))
        assert alone.to_dict() == {'m': {'a': 1}}

    def test_base_placeholders_in_python(self, tmp_path):
        write(tmp_path, 'base.py', """
            train_pipeline = [dict(type='Load'), dict(type='Resize', scale=(1333, 800))]
            model = dict(backbone=dict(depth=50))
            """)
        path = write(tmp_path, 'child.py', """
            _base_ = ['base.py']
            test_pipeline = {{_base_.train_pipeline}}
            test_pipeline[1]['scale'] = (640, 640)   # the placeholder gives an editable copy
            depth = '{{ _base_.model.backbone.depth }}'
            resize = {{_base_.train_pipeline.1.type}}
            """)
        cfg = Config.fromfile(path)
        assert cfg.test_pipeline[1].scale == (640, 640)
        assert cfg.train_pipeline[1].scale == (1333, 800)  # the base value is untouched
        assert cfg.depth == 50 and cfg.resize == 'Resize'

    def test_placeholder_inside_a_longer_python_string_is_explained(self, tmp_path):
        write(tmp_path, 'base.py', "name = 'r50'\n")
        path = write(tmp_path, 'child.py', "_base_ = 'base.py'\nwork_dir = 'runs/{{_base_.name}}'\n")
        with pytest.raises(ConfigError, match=r'child\.py, line 2: .*must stand alone'):
            Config.fromfile(path)

    def test_missing_placeholder_key_names_file_line_and_close_keys(self, tmp_path):
        write(tmp_path, 'base.py', "train_pipeline = []\n")
        path = write(tmp_path, 'child.py', "_base_ = 'base.py'\n\nx = {{_base_.train_pipelin}}\n")
        with pytest.raises(ConfigError, match=r"child\.py, line 3: .*'train_pipelin'.*train_pipeline"):
            Config.fromfile(path)

    def test_placeholder_without_base_is_an_error(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "x = {{_base_.a}}\n")
        with pytest.raises(ConfigError, match=r'cfg\.py, line 1: .*no _base_'):
            Config.fromfile(path)

    def test_missing_base_names_child_and_missing_path(self, tmp_path):
        path = write(tmp_path, 'child.py', "_base_ = ['../nowhere/base.py']\n")
        with pytest.raises(ConfigError) as info:
            Config.fromfile(path)
        message = str(info.value)
        assert str(path) in message and '../nowhere/base.py' in message
        assert str(tmp_path.parent / 'nowhere' / 'base.py') in message

    def test_error_in_base_names_base_and_child(self, tmp_path):
        write(tmp_path, 'base.py', "a = (\n")
        path = write(tmp_path, 'child.py', "_base_ = 'base.py'\n")
        with pytest.raises(ConfigError, match=r'base\.py, line 1.*a _base_ of .*child\.py'):
            Config.fromfile(path)

    def test_circular_bases(self, tmp_path):
        write(tmp_path, 'a.py', "_base_ = 'b.py'\n")
        write(tmp_path, 'b.py', "_base_ = 'a.py'\n")
        with pytest.raises(ConfigError, match='circular _base_ chain'):
            Config.fromfile(tmp_path / 'a.py')

    def test_non_literal_base_is_an_error(self, tmp_path):
        path = write(tmp_path, 'c.py', "import os\n_base_ = os.path.join('a', 'b.py')\n")
        with pytest.raises(ConfigError, match=r'c\.py, line 2: _base_ must be'):
            Config.fromfile(path)


class TestLoadErrors:
    def test_python_syntax_error_names_file_and_line(self, tmp_path):
        path = write(tmp_path, 'bad.py', "a = 1\nb = dict(\nc = 3\n")
        with pytest.raises(ConfigError, match=r'bad\.py, line \d+: invalid Python'):
            Config.fromfile(path)

    def test_python_runtime_error_names_file_and_line(self, tmp_path):
        path = write(tmp_path, 'bad.py', "a = 1\nb = undefined_name + 1\n")
        with pytest.raises(ConfigError, match=r"bad\.py, line 2: NameError: .*undefined_name"):
            Config.fromfile(path)

    def test_invalid_yaml_names_file_and_line(self, tmp_path):
        path = write(tmp_path, 'bad.yaml', "a: 1\nb: [1, 2\nc: 3\n")
        with pytest.raises(ConfigError, match=r'bad\.yaml, line \d+: invalid YAML'):
            Config.fromfile(path)

    def test_invalid_json_names_file_and_line(self, tmp_path):
        path = write(tmp_path, 'bad.json', '{\n"a": 1,\n}\n')
        with pytest.raises(ConfigError, match=r'bad\.json, line 3: invalid JSON'):
            Config.fromfile(path)

    def test_top_level_must_be_a_mapping(self, tmp_path):
        with pytest.raises(ConfigError, match='must be a mapping, got list'):
            Config.fromfile(write(tmp_path, 'list.yaml', '- 1\n- 2\n'))

    def test_missing_file_and_unknown_extension(self, tmp_path):
        with pytest.raises(ConfigError, match='not found'):
            Config.fromfile(tmp_path / 'nope.py')
        with pytest.raises(ConfigError, match=r"unsupported config file type '\.toml'"):
            Config.fromfile(write(tmp_path, 'cfg.toml', 'a = 1\n'))


class TestCustomImports:
    @pytest.fixture
    def plugin_dir(self, tmp_path, monkeypatch):
        pkg = tmp_path / 'plugins'
        write(pkg, 'vc_test_plugin_ok.py', """
            REGISTERED = []
            def register_module(cls):
                REGISTERED.append(cls.__name__)
                return cls
            @register_module
            class MyHead:
                pass
            """)
        write(pkg, 'vc_test_plugin_broken.py', "raise RuntimeError('plugin exploded')\n")
        monkeypatch.syspath_prepend(str(pkg))
        yield pkg
        for name in ('vc_test_plugin_ok', 'vc_test_plugin_broken'):
            sys.modules.pop(name, None)

    def test_modules_are_imported(self, tmp_path, plugin_dir):
        path = write(tmp_path, 'cfg.py', "custom_imports = dict(imports=['vc_test_plugin_ok'])\n")
        assert 'vc_test_plugin_ok' not in sys.modules
        cfg = Config.fromfile(path)
        assert sys.modules['vc_test_plugin_ok'].REGISTERED == ['MyHead']
        assert cfg.custom_imports.imports == ['vc_test_plugin_ok']

    def test_import_can_be_turned_off(self, tmp_path, plugin_dir):
        path = write(tmp_path, 'cfg.py', "custom_imports = dict(imports=['vc_test_plugin_ok'])\n")
        Config.fromfile(path, import_custom_modules=False)
        assert 'vc_test_plugin_ok' not in sys.modules

    @pytest.mark.parametrize('module', ['vc_test_plugin_missing', 'vc_test_plugin_broken'])
    def test_failed_import_names_module_and_file(self, tmp_path, plugin_dir, module):
        path = write(tmp_path, 'cfg.yaml', f"custom_imports: {{imports: [{module}]}}\n")
        with pytest.raises(ConfigError) as info:
            Config.fromfile(path)
        assert module in str(info.value) and str(path) in str(info.value)

    def test_allow_failed_imports_warns(self, tmp_path, plugin_dir):
        path = write(tmp_path, 'cfg.py', "custom_imports = dict(imports=['vc_test_plugin_missing', "
                                         "'vc_test_plugin_ok'], allow_failed_imports=True)\n")
        with pytest.warns(UserWarning, match='vc_test_plugin_missing'):
            Config.fromfile(path)
        assert 'vc_test_plugin_ok' in sys.modules  # the rest still import

    def test_malformed_custom_imports(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "custom_imports = dict(import_=['x'])\n")
        with pytest.raises(ConfigError, match='unknown keys'):
            Config.fromfile(path)


# ---------------------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def det_cfg(tmp_path):
    path = write(tmp_path, 'det.py', """
        model = dict(backbone=dict(type='ResNet', depth=50), neck=dict(type='FPN', channels=(256, 512)))
        optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9))
        train_dataloader = dict(dataset=dict(pipeline=[dict(type='Load'), dict(type='Resize', scale=(1333, 800))]))
        """)
    return Config.fromfile(path)


class TestMergeFromDict:
    def test_dotted_keys_and_list_indices(self, det_cfg):
        det_cfg.merge_from_dict({
            'optim_wrapper.optimizer.lr': 0.01,
            'train_dataloader.dataset.pipeline.1.scale': (640, 640),
            'model.neck.channels.1': 1024,
            'model.backbone': dict(depth=101),
        })
        assert det_cfg.optim_wrapper.optimizer.to_dict() == {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9}
        assert det_cfg.train_dataloader.dataset.pipeline[1].scale == (640, 640)
        assert det_cfg.model.neck.channels == (256, 1024)  # a tuple stays a tuple
        assert det_cfg.model.backbone.to_dict() == {'type': 'ResNet', 'depth': 101}  # dicts merge

    def test_non_dict_value_replaces_and_delete_replaces_dict(self, det_cfg):
        det_cfg.merge_from_dict({'model.neck': None,
                                 'optim_wrapper.optimizer': dict(_delete_=True, type='AdamW', lr=1e-4)})
        assert det_cfg.model.neck is None
        assert det_cfg.optim_wrapper.optimizer.to_dict() == {'type': 'AdamW', 'lr': 1e-4}

    def test_unknown_key_names_key_file_and_closest_keys(self, det_cfg):
        with pytest.raises(ConfigError) as info:
            det_cfg.merge_from_dict({'optim_wrapper.optimizer.lrr': 0.1})
        message = str(info.value)
        assert "'optim_wrapper.optimizer.lrr'" in message
        assert det_cfg.filename in message
        assert 'optim_wrapper.optimizer.lr' in message.split('Closest existing keys:')[1]
        assert '+optim_wrapper.optimizer.lrr' in message

    def test_typo_in_the_middle_of_the_path(self, det_cfg):
        with pytest.raises(ConfigError, match=r"no key 'backbon' under 'model'.*model\.backbone\.depth"):
            det_cfg.merge_from_dict({'model.backbon.depth': 101})

    def test_plus_creates_keys_and_missing_dicts(self, det_cfg):
        det_cfg.merge_from_dict({'+model.new_key': 3, '+model.head.loss.weight': 0.5, '+seed': 1})
        assert det_cfg.model.new_key == 3 and det_cfg.model.head.loss.weight == 0.5 and det_cfg.seed == 1
        assert isinstance(det_cfg.model.head, ConfigDict)
        det_cfg.merge_from_dict({'+model.backbone.depth': 18})  # '+' on an existing key just sets it
        assert det_cfg.model.backbone.depth == 18

    def test_list_index_errors(self, det_cfg):
        with pytest.raises(ConfigError, match=r"list of length 2; '5' is not a valid index"):
            det_cfg.merge_from_dict({'train_dataloader.dataset.pipeline.5.scale': 1})
        with pytest.raises(ConfigError, match='allow_list_keys=False'):
            det_cfg.merge_from_dict({'train_dataloader.dataset.pipeline.1.scale': 1}, allow_list_keys=False)

    def test_cannot_descend_into_a_scalar(self, det_cfg):
        with pytest.raises(ConfigError, match=r"'model\.backbone\.depth' is 50 .*no key 'x'"):
            det_cfg.merge_from_dict({'model.backbone.depth.x': 1})

    def test_a_failing_override_changes_nothing(self, det_cfg):
        before = det_cfg.to_dict()
        with pytest.raises(ConfigError):
            det_cfg.merge_from_dict({'optim_wrapper.optimizer.lr': 5.0, 'nope': 1})
        assert det_cfg.to_dict() == before

    def test_bad_key_shapes(self, det_cfg):
        with pytest.raises(ConfigError, match='not a dotted key path'):
            det_cfg.merge_from_dict({'model..depth': 1})

    def test_fromfile_applies_cfg_options(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "model = dict(depth=50)\nlr = 0.1\n")
        cfg = Config.fromfile(path, cfg_options={'model.depth': 101, 'lr': parse_override_value('1e-3')})
        assert cfg.model.depth == 101 and cfg.lr == 1e-3
        with pytest.raises(ConfigError, match=r"cfg\.py: cannot override 'lrr'"):
            Config.fromfile(path, cfg_options={'lrr': 1})

    def test_override_value_is_copied(self, det_cfg):
        value = {'depth': 18}
        det_cfg.merge_from_dict({'+model.other': value})
        value['depth'] = 0
        assert det_cfg.model.other.depth == 18


class TestParseOverrideValue:
    @pytest.mark.parametrize('text, expected', [
        ('None', None), ('none', None), ('null', None),
        ('true', True), ('True', True), ('false', False), ('False', False),
        ('3', 3), ('-2', -2), ('0.1', 0.1), ('1e-3', 1e-3), ('-2.5E2', -250.0), ('.5', 0.5),
        ('[1,2]', [1, 2]), ('[a, b]', ['a', 'b']), ('a,b', ['a', 'b']), ('1,2.5,c', [1, 2.5, 'c']),
        ('(1,2)', (1, 2)), ('(1,)', (1,)), ('()', ()), ('[]', []), ('x,', ['x']),
        ('[(1,2),(3,4)]', [(1, 2), (3, 4)]), ('[[1,[2]],[]]', [[1, [2]], []]),
        ("'x'", 'x'), ('"1"', '1'), ("'None'", 'None'), ("'a,b'", 'a,b'), ("['a,b', c]", ['a,b', 'c']),
        ('{a:1, b:[true]}', {'a': 1, 'b': [True]}),
        ('SGD', 'SGD'), ('work_dirs/run-1', 'work_dirs/run-1'), ('', ''), ('  7 ', 7),
    ])
    def test_values(self, text, expected):
        value = parse_override_value(text)
        assert value == expected and type(value) is type(expected)
        if isinstance(expected, list):
            assert [type(v) for v in value] == [type(v) for v in expected]

    @pytest.mark.parametrize('text', ['[1,2', '(1,2]', 'a)', "'abc", 'a,,b', '{a}'])
    def test_malformed_values_raise(self, text):
        with pytest.raises(ValueError):
            parse_override_value(text)


class TestDictAction:
    @staticmethod
    def parser():
        parser = argparse.ArgumentParser(prog='train')
        parser.add_argument('--cfg-options', '-o', nargs='+', action=DictAction, default={})
        return parser

    def test_items_are_parsed_and_accumulate(self):
        args = self.parser().parse_args(
            ['-o', 'model.depth=101', 'lr=1e-3', '--cfg-options', 'scale=[(1,2),(3,4)]', 'lr=0.5', 'name=a=b'])
        assert args.cfg_options == {'model.depth': 101, 'lr': 0.5, 'scale': [(1, 2), (3, 4)], 'name': 'a=b'}

    def test_default_is_not_mutated(self):
        default: dict = {}
        parser = argparse.ArgumentParser()
        parser.add_argument('-o', nargs='+', action=DictAction, default=default)
        assert parser.parse_args(['-o', 'a=1']).o == {'a': 1}
        assert default == {} and parser.parse_args([]).o == {}

    @pytest.mark.parametrize('item', ['model.depth', '=3', 'a=[1'])
    def test_bad_item_is_a_usage_error_naming_it(self, item, capsys):
        with pytest.raises(SystemExit):
            self.parser().parse_args(['-o', 'ok=1', item])
        assert repr(item) in capsys.readouterr().err

    def test_end_to_end_with_config(self, tmp_path):
        path = write(tmp_path, 'cfg.py', "pipeline = [dict(type='Load'), dict(type='Resize', scale=(1, 1))]\n")
        args = self.parser().parse_args(['-o', 'pipeline.1.scale=(640,480)'])
        cfg = Config.fromfile(path, cfg_options=args.cfg_options)
        assert cfg.pipeline[1].scale == (640, 480)


# ---------------------------------------------------------------------------------------------------------
# Dumping
# ---------------------------------------------------------------------------------------------------------
ROUND_TRIP = dict(
    model=dict(type='RetinaNet', backbone=dict(depth=50, out_indices=(1, 2, 3), frozen=None, norm_eval=True),
               single=(7,), empty_tuple=(), empty_dict={}, empty_list=[]),
    pipeline=[dict(type='Load', to_float=False), dict(type='Resize', scale=[(1333, 800), (640, 640)]),
              [dict(nested=[dict(deep=1.5e-8)])]],
    lr=0.02, small=1e-8, big=1e20, neg=-3, ratio=1 / 3, flag=False, nothing=None,
    message="it's \"quoted\"\nwith a newline",
    odd_keys={'with-dash': 1, 'class': 2, 3: 'int key', 'ok': 4},
    long_list=list(range(60)),
    inf=float('inf'),
)


class TestDump:
    def test_python_round_trip(self, tmp_path):
        cfg = Config(copy.deepcopy(ROUND_TRIP))
        out = tmp_path / 'dumped.py'
        cfg.dump(out)
        ast.parse(out.read_text())  # valid Python
        back = Config.fromfile(out)
        assert back.to_dict() == ROUND_TRIP
        assert type(back.model.backbone.out_indices) is tuple and type(back.pipeline[1].scale[0]) is tuple
        assert back.model.single == (7,) and back.model.empty_tuple == ()
        assert back.small == 1e-8 and back.ratio == 1 / 3

    def test_pretty_text_is_readable_and_wraps(self):
        text = Config(copy.deepcopy(ROUND_TRIP)).pretty_text
        assert "lr = 0.02\n" in text and 'model = dict(\n' in text
        assert all(len(line) <= 100 for line in text.splitlines())
        assert "{'with-dash': 1, 'class': 2, 3: 'int key', 'ok': 4}" in text

    def test_non_identifier_top_level_keys_round_trip(self, tmp_path):
        cfg = Config({'my-key': 1, 'ok': 2})
        cfg.dump(tmp_path / 'out.py')
        assert Config.fromfile(tmp_path / 'out.py').to_dict() == {'my-key': 1, 'ok': 2}

    def test_classes_and_functions_dump_as_dotted_paths(self, tmp_path):
        import torch
        cfg = Config(dict(conv=dict(type=torch.nn.Conv2d), fn=os.path.join, od=collections.OrderedDict))
        text = cfg.dump()
        assert "type='torch.nn.modules.conv.Conv2d'" in text
        cfg.dump(tmp_path / 'out.py')
        back = Config.fromfile(tmp_path / 'out.py')
        assert back.conv.type == 'torch.nn.modules.conv.Conv2d'
        module, _, name = back.conv.type.rpartition('.')
        assert getattr(importlib.import_module(module), name) is torch.nn.Conv2d
        assert back.fn == f'{os.path.join.__module__}.join' and back.od == 'collections.OrderedDict'
        cfg.dump(tmp_path / 'out.yaml')
        assert yaml.safe_load((tmp_path / 'out.yaml').read_text())['conv']['type'] == 'torch.nn.modules.conv.Conv2d'

    def test_numpy_values_dump_as_python_numbers(self, tmp_path):
        import numpy as np
        cfg = Config(dict(mean=np.array([123.675, 116.28]), scale=np.float64(0.5), n=np.int64(3)))
        cfg.dump(tmp_path / 'out.py')
        back = Config.fromfile(tmp_path / 'out.py').to_dict()
        assert back == {'mean': [123.675, 116.28], 'scale': 0.5, 'n': 3}
        assert type(back['n']) is int
        assert yaml.safe_load(cfg.dump(file_format='yaml')) == back

    def test_long_runs_of_numbers_fill_lines(self):
        text = Config(dict(ids=tuple(range(100)))).pretty_text
        lines = text.splitlines()
        assert lines[0] == 'ids = (' and lines[-1] == ')' and 3 <= len(lines) <= 8
        assert ast.literal_eval(text.split('=', 1)[1].strip()) == tuple(range(100))

    @pytest.mark.parametrize('ext', ['yaml', 'yml', 'json'])
    def test_data_formats_round_trip_with_tuples_as_lists(self, tmp_path, ext):
        data = {k: v for k, v in ROUND_TRIP.items() if k not in ('odd_keys', 'inf')}
        out = tmp_path / f'out.{ext}'
        Config(copy.deepcopy(data)).dump(out)
        loaded = yaml.safe_load(out.read_text()) if ext != 'json' else json.loads(out.read_text())
        expected = json.loads(json.dumps(data))  # tuples -> lists
        assert loaded == expected
        assert Config.fromfile(out).to_dict() == expected

    def test_dump_without_path_returns_text_in_source_format(self, tmp_path):
        path = write(tmp_path, 'cfg.yaml', 'a: {b: [1, 2]}\n')
        cfg = Config.fromfile(path)
        assert yaml.safe_load(cfg.dump()) == {'a': {'b': [1, 2]}}
        assert cfg.dump(file_format='py') == 'a = dict(b=[1, 2])\n'
        assert json.loads(cfg.dump(file_format='json')) == {'a': {'b': [1, 2]}}
        assert Config(dict(x=(1,))).dump() == 'x = (1,)\n'

    def test_dump_creates_parent_dirs_and_rejects_unknown_ext(self, tmp_path):
        cfg = Config(dict(a=1))
        cfg.dump(tmp_path / 'deep' / 'dir' / 'cfg.py')
        assert (tmp_path / 'deep' / 'dir' / 'cfg.py').read_text() == 'a = 1\n'
        with pytest.raises(ConfigError, match='unsupported'):
            cfg.dump(tmp_path / 'cfg.txt')

    def test_inherited_config_dumps_merged_values(self, tmp_path):
        write(tmp_path, 'base.py', "model = dict(depth=50, neck='FPN')\n")
        path = write(tmp_path, 'child.py', "_base_ = 'base.py'\nmodel = dict(depth=101)\n")
        cfg = Config.fromfile(path, cfg_options={'+model.extra': [1, 2]})
        cfg.dump(tmp_path / 'final.py')
        assert Config.fromfile(tmp_path / 'final.py').to_dict() == {
            'model': {'depth': 101, 'neck': 'FPN', 'extra': [1, 2]}}
