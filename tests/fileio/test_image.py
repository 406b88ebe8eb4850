"""One image reader for training and inference: truncated files and over-limit headers are refused, naming the
file, before a half-decoded picture or a huge allocation gets used."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from visioncraft.data.loading import LoadImageFromFile
from visioncraft.errors import ImageReadError, run_entry_point
from visioncraft.fileio import image as fimage
from visioncraft.fileio.image import (imdecode, imread, max_image_pixels, read_image, set_max_image_pixels,
                                      unreadable_image_reason)


def _picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose IHDR claims w x h pixels, with a tiny IDAT and IEND (a "decompression bomb" header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + \
        chunk(b'IEND', b'')


@pytest.fixture
def files(tmp_path):
    img = _picture()
    ok, jpg = cv2.imencode('.jpg', img)
    ok2, png = cv2.imencode('.png', img)
    assert ok and ok2
    jpg, png = jpg.tobytes(), png.tobytes()
    out = dict(jpg=tmp_path / 'ok.jpg', png=tmp_path / 'ok.png', cut_jpg=tmp_path / 'cut.jpg',
               cut_png=tmp_path / 'cut.png', huge=tmp_path / 'huge.png', padded=tmp_path / 'padded.jpg')
    out['jpg'].write_bytes(jpg)
    out['png'].write_bytes(png)
    out['cut_jpg'].write_bytes(jpg[: len(jpg) * 2 // 3])
    out['cut_png'].write_bytes(png[: len(png) * 2 // 3])
    out['huge'].write_bytes(_png_header_only(60000, 60000))
    out['padded'].write_bytes(jpg + b'\x00' * 100)  # some cameras pad after the end-of-image marker
    return out


def test_whole_images_read_as_before(files):
    for key in ('jpg', 'png', 'padded'):
        img = imread(files[key])
        assert img is not None and img.shape == (48, 64, 3), key
        np.testing.assert_array_equal(img, cv2.imread(str(files[key])))
        np.testing.assert_array_equal(imdecode(files[key].read_bytes()), img)


def test_a_truncated_jpeg_is_refused_not_half_decoded(files):
    # OpenCV alone returns a picture with the missing rows grey, and prints a warning that names no file
    assert cv2.imread(str(files['cut_jpg'])) is not None
    assert imread(files['cut_jpg']) is None
    assert imdecode(files['cut_jpg'].read_bytes()) is None
    assert unreadable_image_reason(files['cut_jpg']) == \
        'is truncated (the JPEG data ends before its end-of-image marker)'
    with pytest.raises(ImageReadError, match=r'demo: could not read image .*cut\.jpg: it is truncated \(the JPEG'):
        read_image(files['cut_jpg'], 'demo')


def test_a_truncated_png_is_refused(files):
    assert imread(files['cut_png']) is None
    assert unreadable_image_reason(files['cut_png']).startswith('is truncated (the PNG data ends before its IEND')


def test_a_header_over_the_pixel_limit_is_refused_before_decoding(files, monkeypatch):
    assert imread(files['huge']) is None
    why = unreadable_image_reason(files['huge'])
    assert why.startswith('claims 60000 x 60000 pixels in its header, over the limit of 268435456 '
                          '(VISIONCRAFT_MAX_IMAGE_PIXELS)')
    # a limit below a real picture's size refuses it too; the environment and the setter both set it
    monkeypatch.setenv('VISIONCRAFT_MAX_IMAGE_PIXELS', str(48 * 64 - 1))
    assert max_image_pixels() == 48 * 64 - 1 and imread(files['png']) is None
    assert 'claims 64 x 48 pixels in its header, over the limit of 3071' in unreadable_image_reason(files['png'])
    monkeypatch.setenv('VISIONCRAFT_MAX_IMAGE_PIXELS', 'lots')
    with pytest.raises(ValueError, match="VISIONCRAFT_MAX_IMAGE_PIXELS='lots' must be a positive whole number"):
        max_image_pixels()
    monkeypatch.delenv('VISIONCRAFT_MAX_IMAGE_PIXELS')
    try:
        set_max_image_pixels(48 * 64)
        assert imread(files['png']) is not None
        with pytest.raises(ValueError, match='positive int'):
            set_max_image_pixels(0)
    finally:
        set_max_image_pixels(None)
    assert max_image_pixels() == fimage.DEFAULT_MAX_IMAGE_PIXELS


def test_training_reads_through_the_same_reader(files):
    for key, why in (('cut_jpg', 'is truncated'), ('huge', 'claims 60000 x 60000 pixels')):
        with pytest.raises(ImageReadError, match=rf'LoadImageFromFile: .*{files[key].name} {why}.* \(sample 3\)'):
            LoadImageFromFile()(dict(img_path=str(files[key]), sample_idx=3))
        assert LoadImageFromFile(ignore_empty=True)(dict(img_path=str(files[key]))) is None


def test_an_entry_point_prints_one_line_naming_the_truncated_file_and_exits_2(files, capsys):
    with pytest.raises(SystemExit) as exc:
        run_entry_point(read_image, files['cut_jpg'], 'visioncraft ocr')
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == (f'error: visioncraft ocr: could not read image {files["cut_jpg"]}: it is truncated (the JPEG data '
                   'ends before its end-of-image marker)\n')
