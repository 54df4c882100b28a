"""Robust image reading: any bit depth and channel count in, uint8 RGB out, bad files named."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

IMAGE_SUFFIXES = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff"})
MIN_SIDE = 16  # smaller images carry no cell morphology, yet the model would score them confidently
HELD_SHARE = 16  # decoded images are held up to 1/16 of the physical memory (decoded_once)
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
# libjpeg's warnings for lost image data (it fills the rest with gray and carries on); its warning about
# stray bytes between segments is not among them: such files decode whole.
_JPEG_DATA_LOST = re.compile(r"premature end|bad huffman code|instead of RST", re.IGNORECASE)

# Decoding failures are reported as BadImageError, not as OpenCV's C++ log lines.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


def printable(text: str | Path) -> str:
    """``text`` as it can be printed and written: bytes of a file name that are not UTF-8 shown as ``\\xe9``. The
    package names every file so, in its tables, files, reports and messages; ``on_disk`` finds the file again."""
    return os.fsencode(str(text)).decode("utf-8", "backslashreplace")


def on_disk(path: str | Path) -> Path:
    """The file that ``path`` names: ``path`` itself, or where it is the printable name of a file whose name is not
    UTF-8 (``caf\\xe9.bmp`` for the bytes ``caf\xe9.bmp``), that file."""
    path = Path(path)
    if "\\x" in str(path) and not os.path.lexists(path):
        raw = Path(os.fsdecode(_ESCAPED_BYTE.sub(lambda m: bytes([int(m[1], 16)]), os.fsencode(str(path)))))
        if os.path.lexists(raw):
            return raw
    return path


class BadImageError(ValueError):
    """An image file that cannot be used: empty, unreadable, truncated, corrupt, too small or too large."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(
            f"{printable(path)}: {reason}; replace or remove the file, or pass --on-bad-image skip to leave it out"
        )


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, or BadImageError when it is missing, unreadable or empty."""
    try:
        data = on_disk(path).read_bytes()
    except OSError as err:
        raise BadImageError(path, f"cannot be read ({err.strerror or err})") from None
    if not data:
        raise BadImageError(path, "is empty (0 bytes)")
    return data


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_image(data: bytes, path: str | Path = "<bytes>", min_side: int = MIN_SIDE) -> np.ndarray:
    """Decode encoded image bytes to an H x W x 3 uint8 RGB array of at least ``min_side`` pixels a side."""
    if data.startswith(_JPEG_START):
        _check_jpeg_data(data, path)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:  # e.g. more pixels than OpenCV's CV_IO_MAX_IMAGE_PIXELS (2^30)
        reason = "is too large to decode (over 2^30 pixels); downscale or tile it" if "MAX_IMAGE_PIXELS" in str(
            err) else f"cannot be decoded ({str(err).strip().splitlines()[-1]})"
        raise BadImageError(path, reason) from None
    if image is None or image.size == 0:
        raise BadImageError(path, "is not a readable image (truncated, corrupt or not an image format)")
    _check_side(image, path, min_side)
    return to_rgb_uint8(image)


def _check_side(image: np.ndarray, path, min_side: int) -> None:
    height, width = image.shape[:2]
    if min(height, width) < min_side:
        raise BadImageError(path, f"is {width}x{height} pixels; images need at least {min_side} on each side")


def _check_jpeg_data(data: bytes, path) -> None:
    """OpenCV decodes a JPEG whose data were cut short (its end marker put back) with gray rows and only a
    message on stderr; libjpeg-turbo, asked to stop on warnings, names the loss."""
    if _JPEG_END not in data[-1024:]:
        raise BadImageError(path, "is a truncated JPEG (no end-of-image marker)")
    try:
        colorspace = "CMYK" if simplejpeg.decode_jpeg_header(data)[2] in ("CMYK", "YCCK") else "GRAY"
        # at 1/8 scale (DCT scaling): every bit of the entropy-coded data is still read, at a fraction of the cost
        simplejpeg.decode_jpeg(data, colorspace=colorspace, strict=True, min_height=1, min_width=1, min_factor=8)
    except ValueError as err:
        if _JPEG_DATA_LOST.search(str(err)):
            raise BadImageError(path, f"is a corrupt JPEG ({err})") from None


def read_image(path: str | Path, min_side: int = MIN_SIDE) -> np.ndarray:
    """Read an image file as an H x W x 3 uint8 RGB array (within ``decoded_once``, a read-only array decoded once)."""
    held = _HELD.get(path)
    if held is not None:
        _check_side(held, path, min_side)
        return held
    return remember(path, decode_image(read_bytes(path), path, min_side))


def physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class _Held:
    """The images decoded within ``decoded_once``, by file (its real path, size and time of change): the first ones
    read, until their pixels fill the budget; a file past it is decoded again at each read."""

    def __init__(self):
        self.images, self.budget, self.used, self.lock = None, 0, 0, threading.Lock()

    @staticmethod
    def key(path: str | Path):
        try:
            found = on_disk(path)
            status = found.stat()
        except OSError:
            return None
        return os.path.realpath(found), status.st_size, status.st_mtime_ns

    def get(self, path: str | Path) -> np.ndarray | None:
        return None if self.images is None else self.images.get(self.key(path))

    def put(self, path: str | Path, image: np.ndarray) -> None:
        if self.images is None:  # no command holds images: nothing to look up
            return
        with self.lock:
            key = self.key(path)
            if key is None or key in self.images or self.used + image.nbytes > self.budget:
                return
            image.flags.writeable = False  # every reader shares it
            self.images[key], self.used = image, self.used + image.nbytes


_HELD = _Held()


def remember(path: str | Path, image: np.ndarray) -> np.ndarray:
    """``image``, decoded from ``path``, held for the next read of the file where ``decoded_once`` is open."""
    _HELD.put(path, image)
    return image


@contextlib.contextmanager
def decoded_once(budget: int | None = None):
    """Within it each image file is decoded once: every later ``read_image`` of it hands out the same read-only
    array, for the first files read up to ``budget`` bytes of pixels (1/16 of the physical memory by default)."""
    _HELD.images, _HELD.used = {}, 0
    _HELD.budget = physical_memory() // HELD_SHARE if budget is None else budget
    try:
        yield
    finally:
        _HELD.images, _HELD.used = None, 0


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Convert an OpenCV-decoded array (gray, BGR or BGRA; 8/16-bit or float) to uint8 RGB."""
    image = _to_uint8(image)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    channels = image.shape[2]
    if channels == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 2:  # gray + alpha
        return np.repeat(image[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.round(image / 257.0).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        peak = 1.0 if np.nanmax(image) <= 1.0 else 255.0
        return np.round(np.clip(np.nan_to_num(image) / peak, 0.0, 1.0) * 255.0).astype(np.uint8)
    info = np.iinfo(image.dtype)
    scaled = (image.astype(np.float64) - info.min) / (info.max - info.min)
    return np.round(scaled * 255.0).astype(np.uint8)
