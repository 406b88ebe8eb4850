"""visioncraft.fileio.package_data: shipped files (configs/...) are found in the package's own data (visioncraft/.mim/,
a built wheel) or in the source checkout, and a miss names every place looked at; the pose alias 'human' resolves
through it, so it works in a non-editable install too. Plus visioncraft.fileio.image.read_image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from visioncraft.apis.model_aliases import POSE2D_ALIASES, resolve_pose2d
from visioncraft.errors import ImageReadError
from visioncraft.fileio import package_data
from visioncraft.fileio.image import read_image
from visioncraft.fileio.package_data import find_package_file, package_data_roots

REL = 'configs/pose/some_model.py'


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """An installed-package layout: ``site/visioncraft/.mim`` (package data) and an unrelated source root."""
    data, source = tmp_path / 'site' / 'visioncraft' / '.mim', tmp_path / 'checkout'
    data.mkdir(parents=True)
    source.mkdir()
    monkeypatch.setattr(package_data, 'PACKAGE_DATA_DIR', data)
    monkeypatch.setattr(package_data, 'SOURCE_ROOT', source)
    return data, source


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('x = 1\n')
    return path


def test_the_checkout_finds_its_own_configs():
    assert package_data_roots()[-1] == REPO
    assert find_package_file('configs/_base_/datasets/coco.py') == REPO / 'configs' / '_base_' / 'datasets' / 'coco.py'


def test_package_data_first_then_the_source_checkout(roots):
    data, source = roots
    in_source = _touch(source / REL)
    assert find_package_file(REL) == in_source
    in_data = _touch(data / REL)
    assert find_package_file(REL) == in_data  # the package's own copy wins
    # candidates in order: the first one found anywhere wins
    assert find_package_file('configs/missing.py', REL) == in_data


def test_a_missing_file_names_every_place_looked_at(roots):
    data, source = roots
    with pytest.raises(FileNotFoundError) as exc:
        find_package_file(REL, 'configs/other.py')
    msg = str(exc.value)
    for path in (data / REL, source / REL, data / 'configs/other.py', source / 'configs/other.py'):
        assert str(path) in msg


def test_pose_alias_resolves_from_package_data(roots):
    data, _ = roots
    with pytest.raises(FileNotFoundError, match=r"pose2d='human'.*none of which is in .*\.mim"):
        resolve_pose2d('human', 'weights.pth')
    second = _touch(data / POSE2D_ALIASES['human'][1])
    assert resolve_pose2d('human', 'weights.pth') == str(second)
    first = _touch(data / POSE2D_ALIASES['human'][0])
    assert resolve_pose2d('human', 'weights.pth') == str(first)
    with pytest.raises(ValueError, match='pose2d_weights'):
        resolve_pose2d('human', None)


def test_read_image(tmp_path):
    grey = np.zeros((4, 5), np.uint8)
    img, path = read_image(grey, 'who')
    assert img.shape == (4, 5, 3) and path is None
    with pytest.raises(TypeError, match='who: the image must be an H x W x 3 uint8'):
        read_image(np.zeros((4, 5, 3), np.float32), 'who')
    with pytest.raises(FileNotFoundError, match='who: image file not found'):
        read_image(tmp_path / 'missing.png', 'who')
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(ImageReadError, match=r'who: could not read image .*empty\.png: it is empty \(0 bytes\)'):
        read_image(tmp_path / 'empty.png', 'who')
