"""Image reading: every bit depth and channel count comes out uint8 RGB; bad files are named."""

import cv2
import numpy as np
import pytest

from keras_all.data.io import BadImageError, read_image


def _write(path, array):
    assert cv2.imwrite(str(path), array)
    return path


def _read(path):
    """read_image without the model's 16-pixel minimum (these conversion tests use a few pixels)."""
    return read_image(path, min_side=1)


def test_colour_image_comes_back_rgb(tmp_path):
    bgr = np.zeros((5, 7, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    image = _read(_write(tmp_path / "blue.png", bgr))
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [0, 0, 200]


def test_gray_image_is_repeated_over_three_channels(tmp_path):
    gray = np.arange(35, dtype=np.uint8).reshape(5, 7)
    image = _read(_write(tmp_path / "gray.png", gray))
    assert image.shape == (5, 7, 3)
    np.testing.assert_array_equal(image[..., 0], gray)
    np.testing.assert_array_equal(image[..., 2], gray)


def test_rgba_drops_alpha(tmp_path):
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 90, 10
    image = _read(_write(tmp_path / "rgba.png", bgra))
    assert image.shape == (4, 4, 3)
    assert image[0, 0].tolist() == [90, 0, 0]


def test_16_bit_tiff_is_scaled_to_8_bits(tmp_path):
    deep = np.full((6, 6, 3), 65535, np.uint16)
    deep[0, 0] = (0, 257 * 100, 32896)
    image = _read(_write(tmp_path / "deep.tif", deep))
    assert image.dtype == np.uint8
    assert image[0, 0].tolist() == [128, 100, 0]
    assert image[1, 1].tolist() == [255, 255, 255]


def test_16_bit_gray_tiff(tmp_path):
    image = _read(_write(tmp_path / "gray16.tif", np.full((3, 3), 257 * 7, np.uint16)))
    assert image.shape == (3, 3, 3) and int(image.max()) == 7


def test_float_tiff_in_unit_range(tmp_path):
    image = _read(_write(tmp_path / "float.tif", np.full((3, 3), 0.5, np.float32)))
    assert image.dtype == np.uint8 and int(image[0, 0, 0]) == 128


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.jpg", b"", "empty"),
        ("text.jpg", b"this is not an image at all", "not a readable image"),
        ("missing.jpg", None, "cannot be read"),
    ],
)
def test_bad_files_raise_one_error_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadImageError) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message and reason in message and "--on-bad-image skip" in message
    assert "\n" not in message


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".png", ".tif"])
def test_truncated_files_are_rejected(tmp_path, suffix):
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(suffix, pixels)
    assert ok
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(encoded.tobytes()[: len(encoded) * 2 // 3])
    with pytest.raises(BadImageError, match="cut"):
        read_image(path)
