"""Robust image reading: any bit depth and channel count in, uint8 RGB out, bad files named."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff"})
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"

# Decoding failures are reported as BadImageError, not as OpenCV's C++ log lines.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class BadImageError(ValueError):
    """An image file that cannot be used: empty, unreadable, truncated or not an image."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(
            f"{path}: {reason}; replace or remove the file, or pass --on-bad-image skip to leave it out"
        )


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, or BadImageError when it is missing, unreadable or empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BadImageError(path, f"cannot be read ({err.strerror or err})") from None
    if not data:
        raise BadImageError(path, "is empty (0 bytes)")
    return data


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_image(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to an H x W x 3 uint8 RGB array."""
    if data.startswith(_JPEG_START) and _JPEG_END not in data[-1024:]:
        raise BadImageError(path, "is a truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise BadImageError(path, "is not a readable image (truncated, corrupt or not an image format)")
    return to_rgb_uint8(image)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an H x W x 3 uint8 RGB array."""
    return decode_image(read_bytes(path), path)


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
