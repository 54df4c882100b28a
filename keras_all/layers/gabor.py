"""FirstSpikeGabor: Gabor edge responses turned into first-spike latency codes (Mozafari et al. 2018).

Definitions (the paper's, reconciled with the authors' code; README.md, "The preprocessing front"):

- gray: 8-bit BT.601 luma as OpenCV 4 computes it for 8-bit images (14-bit fixed point, rounded;
  OpenCV 5 rounds exact halves differently, a handful of pixels an image), for uint8 and float inputs
  in 0..255 alike; one-channel input is rounded to whole levels;
- Gabor bank: theta_l = (l - 1) * pi / L + pi / (2L) (pi/8 offset for L = 4) on a k x k grid,
  g = exp(-(X^2 + gamma^2 Y^2) / (2 sigma^2)) * cos(2 pi X / lambda), X = x cos + y sin,
  Y = -x sin + y cos (x to the right, y down); each kernel made zero-mean, divided by its maximum and
  stored on a 2^-10 grid with its sum kept exactly 0, so that responses to 8-bit images are exact in
  float32 and equal responses rank equally on every backend;
- S_l = |I (x) G_l| on the image scaled to [0, 1], reflect-padded (OpenCV's default border);
- pointwise inhibition: per pixel only the strongest orientation keeps its response;
- latency: of an image's n non-zero surviving responses, one that is exceeded by g others falls in
  bin t = floor(T * g / n), so ties share a bin; bin 0 spikes first.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_all.vocabulary import SPIKE_MODES as MODES

from .rank_select import kth_largest

KERNEL_QUANTUM = 2.0**-10
_LUMA_FIXED = (4899.0, 9617.0, 1868.0)  # OpenCV 4's 14-bit R, G, B weights for 8-bit images


def luma8(inputs):
    """Whole 8-bit gray levels (n, h, w, 1) of RGB or gray input in 0..255, so that Gabor responses are
    exact (see the module docstring)."""
    x = ops.clip(ops.cast(inputs, "float32"), 0.0, 255.0)
    if x.shape[-1] == 1:
        return ops.floor(x + 0.5)
    weighted = sum(x[..., i : i + 1] * w for i, w in enumerate(_LUMA_FIXED))
    return ops.floor((weighted + 8192.0) / 16384.0)


@keras.saving.register_keras_serializable(package="keras_all")
class Luma(keras.layers.Layer):
    """The 8-bit luma that FirstSpikeGabor sees, scaled to [0, 1]: the raw gray input of the ablations."""

    def call(self, inputs):
        return luma8(inputs) / 255.0

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


def orientations_of(count: int) -> np.ndarray:
    """The bank's angles in radians: (l - 1) * pi / count + pi / (2 * count)."""
    return np.arange(count) * np.pi / count + np.pi / (2 * count)


def gabor_bank(orientations=4, kernel_size=5, wavelength=2.5, sigma=2.0, gamma=0.3) -> np.ndarray:
    """Zero-mean, max-1 Gabor kernels on a 2^-10 grid, shape (kernel_size, kernel_size, orientations)."""
    half = kernel_size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    kernels = []
    for theta in orientations_of(orientations):
        rx = x * np.cos(theta) + y * np.sin(theta)
        ry = -x * np.sin(theta) + y * np.cos(theta)
        g = np.exp(-(rx**2 + gamma**2 * ry**2) / (2 * sigma**2)) * np.cos(2 * np.pi * rx / wavelength)
        g -= g.mean()
        g /= g.max()
        kernels.append(_quantize_zero_sum(g))
    return np.stack(kernels, axis=-1)


def _quantize_zero_sum(kernel: np.ndarray) -> np.ndarray:
    """Round to the 2^-10 grid, then move the rounding residue onto the entries rounded furthest,
    one step each (never the maximum), so the sum stays exactly zero."""
    scaled = kernel.ravel() / KERNEL_QUANTUM
    steps = np.round(scaled)
    residue = int(steps.sum())
    error = scaled - steps  # > 0: rounded down
    error[np.argmax(steps)] = np.nan
    order = np.argsort(error if residue > 0 else -error, kind="stable")  # nan sorts last
    steps[order[: abs(residue)]] -= np.sign(residue)
    return (steps * KERNEL_QUANTUM).reshape(kernel.shape)


@keras.saving.register_keras_serializable(package="keras_all")
class FirstSpikeGabor(keras.layers.Layer):
    """Gabor edges coded as first-spike latencies.

    Input: (batch, height, width, 1 or 3) images in 0..255 (uint8 or float; reduced to 8-bit gray
    levels). Output, by ``mode``:
    ``first_spike`` (batch, h, w, 1) binary map of bin-0 spikes over all orientations (the authors');
    ``latency`` (batch, h, w, orientations) 1 - t/T at the winning orientation, 0 where no spike;
    ``spike_wave`` (batch, T, h, w, orientations) cumulative spikes per step (SpykeTorch's layout).
    The kernels are non-trainable unless ``trainable=True`` (gradients then pass the spike threshold
    by a straight-through sigmoid).

    Args:
        orientations: Gabor orientations L (4 in the paper), at (l - 1) pi / L + pi / (2L).
        kernel_size: odd side of each kernel (5).
        wavelength: the cosine's wavelength lambda in pixels (2.5).
        sigma: the Gaussian envelope's standard deviation in pixels (2.0).
        gamma: the envelope's aspect ratio (0.3).
        timesteps: latency bins T (15).
        mode: ``first_spike``, ``latency`` or ``spike_wave`` (the outputs above).
        trainable: whether the kernels learn.
        **kwargs: Keras layer arguments (``name``, ``dtype``).
    """

    def __init__(self, orientations=4, kernel_size=5, wavelength=2.5, sigma=2.0, gamma=0.3, timesteps=15,
                 mode="first_spike", trainable=False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: use one of {', '.join(MODES)}")
        for name, value in (("orientations", orientations), ("timesteps", timesteps)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: must be a positive integer")
        if not isinstance(kernel_size, int) or kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size!r}: must be an odd integer of at least 3")
        for name, value in (("wavelength", wavelength), ("sigma", sigma), ("gamma", gamma)):
            if not value > 0:
                raise ValueError(f"{name}={value!r}: must be positive")
        self.orientations, self.kernel_size, self.timesteps, self.mode = orientations, kernel_size, timesteps, mode
        self.wavelength, self.sigma, self.gamma = float(wavelength), float(sigma), float(gamma)

    def build(self, input_shape):
        if input_shape[-1] not in (1, 3):
            raise ValueError(f"FirstSpikeGabor takes 1 or 3 channels, got input shape {tuple(input_shape)}")
        bank = gabor_bank(self.orientations, self.kernel_size, self.wavelength, self.sigma, self.gamma)
        self.kernels = self.add_weight(
            name="kernels",
            shape=(self.kernel_size, self.kernel_size, 1, self.orientations),
            initializer=keras.initializers.Constant(bank[:, :, None, :]),
        )
        # the largest response level: white under every positive tap, black under every negative one
        self.top_level = int(np.clip(bank / KERNEL_QUANTUM, 0, None).sum(axis=(0, 1)).max().round()) * 255

    def call(self, inputs):
        gray = luma8(inputs)
        half = self.kernel_size // 2
        padded = ops.pad(gray, [[0, 0], [half, half], [half, half], [0, 0]], mode="reflect")
        responses = ops.abs(ops.conv(padded, ops.cast(self.kernels, "float32"), padding="valid"))
        strongest = ops.max(responses, axis=-1)  # (batch, h, w)
        steps = 1 if self.mode == "first_spike" else self.timesteps
        if self.trainable:
            fired = self._fired_sorting(strongest / 255.0, steps)
        else:  # whole multiples of the kernel quantum: exact as int32 levels, ranked by counting
            fired = self._fired_counting(ops.cast(strongest / KERNEL_QUANTUM + 0.5, "int32"), steps)
        if self.mode == "first_spike":
            return fired
        winner = ops.one_hot(ops.argmax(responses, axis=-1), self.orientations, dtype="float32")
        if self.mode == "latency":
            return winner * ops.mean(fired, axis=-1, keepdims=True)
        return ops.transpose(fired, (0, 3, 1, 2))[..., None] * winner[:, None]

    def _ranks(self, flat, steps):
        """The rank a response needs to fire by each of steps 1..steps: ceil(t n / T) of the image's n non-zero
        responses, at least 1 (an image without responses fires nowhere, since a spike needs a response > 0)."""
        count = ops.sum(ops.cast(flat > 0, "int32"), axis=-1, keepdims=True)
        t = ops.arange(1, steps + 1, dtype="int32")[None, :]
        return ops.maximum((t * count + self.timesteps - 1) // self.timesteps, 1)

    def _fired_counting(self, levels, steps):
        """Spike maps (batch, h, w, steps), 1.0 where a response fired by that step, from integer response
        levels (batch, h, w); the thresholds come from counting (rank_select), exactly as a sort would give."""
        flat = ops.reshape(levels, (ops.shape(levels)[0], -1))
        thresholds = kth_largest(flat, self._ranks(flat, steps), self.top_level)[:, None, None, :]
        value = levels[..., None]
        return ops.cast((value >= thresholds) & (value > 0), "float32")

    def _fired_sorting(self, strongest, steps):
        """As _fired_counting, for learnt kernels (responses off the quantum grid): thresholds by sorting, and
        gradients through a straight-through sigmoid (hard spikes forward, a sigmoid's gradient backward)."""
        flat = ops.reshape(strongest, (ops.shape(strongest)[0], -1))
        ranked = ops.flip(ops.sort(flat, axis=-1), axis=-1)
        thresholds = ops.take_along_axis(ranked, self._ranks(flat, steps) - 1, axis=-1)[:, None, None, :]
        value = strongest[..., None]
        fired = ops.cast((value >= thresholds) & (value > 0), "float32")
        soft = ops.sigmoid((value - thresholds) / (ops.mean(thresholds) + 1e-6) * 10.0)
        return soft + ops.stop_gradient(fired - soft)

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[:3]
        if self.mode == "first_spike":
            return (batch, height, width, 1)
        if self.mode == "latency":
            return (batch, height, width, self.orientations)
        return (batch, self.timesteps, height, width, self.orientations)

    def get_config(self):
        return {
            **super().get_config(),
            "orientations": self.orientations,
            "kernel_size": self.kernel_size,
            "wavelength": self.wavelength,
            "sigma": self.sigma,
            "gamma": self.gamma,
            "timesteps": self.timesteps,
            "mode": self.mode,
        }
