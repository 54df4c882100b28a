"""A plain NumPy/OpenCV reference of the preprocessing definitions, one image at a time.

Written apart from keras_all.layers on purpose: the tests check the layers against it. Definitions as in
keras_all/layers/gabor.py's module docstring; kernel entries on a 2^-10 grid with the rounding residue moved
onto the entries rounded furthest (never the maximum), so that the sum is exactly zero.
"""

import cv2
import numpy as np


def reference_kernel(theta, size=5, wavelength=2.5, sigma=2.0, gamma=0.3):
    half = size // 2
    kernel = np.zeros((size, size))
    for row in range(size):
        for col in range(size):
            x, y = col - half, row - half
            rx = x * np.cos(theta) + y * np.sin(theta)
            ry = -x * np.sin(theta) + y * np.cos(theta)
            kernel[row, col] = np.exp(-(rx * rx + gamma * gamma * ry * ry) / (2 * sigma * sigma)) * np.cos(
                2 * np.pi * rx / wavelength
            )
    kernel = kernel - kernel.mean()
    kernel = kernel / kernel.max()
    units = kernel * 1024
    q = np.round(units)
    need = int(q.sum())
    peak = np.unravel_index(np.argmax(q), q.shape)
    candidates = [(units[idx] - q[idx], idx) for idx in np.ndindex(q.shape) if idx != peak]
    # rounded-up entries (most negative error) give a step back when the sum is too large, and vice versa
    candidates.sort(key=lambda c: c[0] if need > 0 else -c[0])
    for _, idx in candidates[: abs(need)]:
        q[idx] -= np.sign(need)
    return q / 1024


def reference_thetas(count):
    return [(index - 1) * np.pi / count + np.pi / (2 * count) for index in range(1, count + 1)]


def reference_gray(image):
    """8-bit luma: RGB -> OpenCV 4's 14-bit fixed-point BT.601, rounded; one channel -> rounded; 0..255."""
    image = np.clip(image.astype(np.float64), 0, 255)
    if image.shape[2] == 1:
        return np.floor(image[..., 0] + 0.5)
    gray = np.zeros(image.shape[:2])
    for r in range(image.shape[0]):
        for c in range(image.shape[1]):
            red, green, blue = image[r, c]
            gray[r, c] = np.floor((red * 4899 + green * 9617 + blue * 1868 + 8192) / 16384)
    return gray


def reference_spikes(image, mode="first_spike", orientations=4, timesteps=15):
    """One image (h, w, 1 or 3) in 0..255 -> the FirstSpikeGabor output for that image."""
    gray = reference_gray(image)
    height, width = gray.shape
    responses = np.stack(
        [
            np.abs(cv2.filter2D(gray, cv2.CV_64F, reference_kernel(t), borderType=cv2.BORDER_REFLECT_101)) / 255.0
            for t in reference_thetas(orientations)
        ],
        axis=-1,
    )
    winner = np.argmax(responses, axis=-1)
    strongest = np.max(responses, axis=-1)
    alive = np.sort(strongest[strongest > 0])  # ascending
    n = alive.size
    latency = np.full((height, width), -1)
    for r in range(height):
        for c in range(width):
            v = strongest[r, c]
            if v > 0:
                greater = n - np.searchsorted(alive, v, side="right")
                latency[r, c] = (timesteps * greater) // n
    if mode == "first_spike":
        return (latency == 0).astype(np.float32)[..., None]
    if mode == "latency":
        out = np.zeros((height, width, orientations), np.float32)
        for r in range(height):
            for c in range(width):
                if latency[r, c] >= 0:
                    out[r, c, winner[r, c]] = 1 - latency[r, c] / timesteps
        return out
    out = np.zeros((timesteps, height, width, orientations), np.float32)
    for t in range(timesteps):
        for r in range(height):
            for c in range(width):
                if 0 <= latency[r, c] <= t:
                    out[t, r, c, winner[r, c]] = 1.0
    return out


def reference_blur(image):
    """cv2.GaussianBlur(9x9, sigma 1.7 = what OpenCV's formula derives from 0) of every channel."""
    blurred = cv2.GaussianBlur(image.astype(np.float64), (9, 9), sigmaX=1.7, sigmaY=1.7)
    return blurred.reshape(image.shape)
