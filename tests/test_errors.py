"""visioncraft.errors: which exceptions the entry points turn into one ``error:`` line and which exit status."""
from __future__ import annotations

import json

import pytest
import torch

from visioncraft.errors import (AnnotationError, CheckpointError, DeviceError, UserError, check_device,
                                mark_user_error, read_checkpoint, read_json, run_entry_point,
                                user_error_message)
from visioncraft.fileio.checkpoint import check_weights_fit


def _run(fn, capsys, monkeypatch, debug=False):
    if debug:
        monkeypatch.setenv('VISIONCRAFT_DEBUG', '1')
    else:
        monkeypatch.delenv('VISIONCRAFT_DEBUG', raising=False)
    with pytest.raises(BaseException) as info:
        run_entry_point(fn)
    return info.value, capsys.readouterr().err


def _raise(exc):
    def fn():
        raise exc
    return fn


def test_user_errors_are_one_line_and_status_2(capsys, monkeypatch):
    for exc, words in ((UserError('bad value x'), 'bad value x'), (FileNotFoundError('nope.png not found'), 'nope.png'),
                       (AnnotationError('a.json, line 3: invalid JSON'), 'a.json, line 3'),
                       (SystemExit('error: --batch-size must be >= 1'), '--batch-size'),
                       (mark_user_error(KeyError('depth'), 'cfg.py: model.backbone'), "cfg.py: model.backbone: missing key 'depth'"),
                       (mark_user_error(ZeroDivisionError('division by zero'), 'cfg.py: model'), 'ZeroDivisionError')):
        raised, err = _run(_raise(exc), capsys, monkeypatch)
        assert type(raised) is SystemExit and raised.code == 2, exc
        assert err.count('\n') == 1 and err.startswith('error: ') and words in err, err


def test_multi_line_messages_become_one_line(capsys, monkeypatch):
    worker = OSError('Caught OSError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n'
                     '  File "x.py", line 1, in f\nOSError: LoadImageFromFile: a.png is not a readable image')
    raised, err = _run(_raise(worker), capsys, monkeypatch)
    assert err == 'error: LoadImageFromFile: a.png is not a readable image (in DataLoader worker process 0)\n'


def test_interrupt_is_one_line_and_130(capsys, monkeypatch):
    raised, err = _run(_raise(KeyboardInterrupt()), capsys, monkeypatch)
    assert raised.code == 130 and err == 'interrupted (Ctrl-C)\n'


def test_system_exit_subclasses_and_codes_pass_through(capsys, monkeypatch):
    class Stopped(SystemExit):
        pass

    for exc in (Stopped(143), Stopped('stopped by SIGTERM'), SystemExit(0), SystemExit(2), SystemExit(None)):
        raised, err = _run(_raise(exc), capsys, monkeypatch)
        assert raised is exc and err == ''


def test_bugs_and_debug_keep_the_traceback(capsys, monkeypatch):
    bug = ZeroDivisionError('division by zero')  # not marked: a bug, not the user's input
    raised, err = _run(_raise(bug), capsys, monkeypatch)
    assert raised is bug and err == ''
    user = UserError('bad')
    raised, err = _run(_raise(user), capsys, monkeypatch, debug=True)
    assert raised is user and err == ''


def test_readers_name_the_file(tmp_path):
    bad = tmp_path / 'a.json'
    bad.write_text('{"a": [1, 2}')
    with pytest.raises(AnnotationError, match=r'a\.json, line 1 column 12: invalid JSON'):
        read_json(bad)
    with pytest.raises(IsADirectoryError, match='is a folder'):
        read_json(tmp_path)
    ok = tmp_path / 'ok.json'
    ok.write_text(json.dumps([1]))
    assert read_json(ok) == [1]


def test_checkpoints(tmp_path):
    (tmp_path / 'empty.pth').write_bytes(b'')
    (tmp_path / 'text.pth').write_text('weights\n')
    torch.save([1, 2], tmp_path / 'list.pth')
    torch.save({'state_dict': {'a.weight': torch.zeros(2)}}, tmp_path / 'ok.pth')
    for name, words in (('empty.pth', 'is empty'), ('text.pth', 'not a PyTorch checkpoint'),
                        ('list.pth', 'holds a list')):
        with pytest.raises(CheckpointError, match=words):
            read_checkpoint(tmp_path / name)
    _, sd = read_checkpoint(tmp_path / 'ok.pth')
    model = torch.nn.Linear(2, 2)
    with pytest.raises(CheckpointError, match='ok.pth does not fit the model Linear'):
        check_weights_fit(model, sd, tmp_path / 'ok.pth')
    check_weights_fit(model, {'weight': torch.zeros(2, 2), 'other': torch.zeros(1)}, 'part.pth')  # a partial fit


def test_devices():
    assert check_device('cpu').type == 'cpu'
    with pytest.raises(DeviceError, match="'banana' is not a device"):
        check_device('banana')
    with pytest.raises(DeviceError, match='cuda:99'):
        check_device('cuda:99')
    assert isinstance(DeviceError('x'), RuntimeError)


def test_message_of_an_os_error_names_the_file():
    assert user_error_message(FileNotFoundError(2, 'No such file or directory', 'x.png')) == \
        'error: x.png: No such file or directory'
