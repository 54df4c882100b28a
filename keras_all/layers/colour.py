"""Colour-aware spike fronts: the paper's FirstSpikeGabor sees 8-bit luma only, and on the real sets the two
classes differ most in colour (a 48-bin colour histogram scores ~0.97; experiments/README.md).

- ``ChannelFirstSpikeGabor``: the spike coding of FirstSpikeGabor applied to each of R, G and B as an image of
  its own (its own Gabor responses, its own latency ranks), the channels' codes side by side;
- ``SpikesBesideColour``: the colour image itself in [0, 1] with a luma spike code (first-spike map or spike
  wave), blurred as the paper blurs it, beside it as further channels.
"""

from __future__ import annotations

import keras
from keras import ops

from .blur import GaussianBlur
from .gabor import FirstSpikeGabor

CHANNEL_MODES = ("first_spike", "latency")  # codes of one (h, w, c) map per image; spike_wave adds a time axis


@keras.saving.register_keras_serializable(package="keras_all")
class ChannelFirstSpikeGabor(FirstSpikeGabor):
    """FirstSpikeGabor on each colour channel separately: RGB images (batch, h, w, 3) in 0..255 ->
    (batch, h, w, 3 * c), channel by channel, where c is the mode's channel count (first_spike 1, latency the
    orientations). Each channel is rounded to whole 8-bit levels and ranked within itself, as a gray image is.

    Args:
        mode: ``first_spike`` or ``latency``.
        **kwargs: FirstSpikeGabor's arguments.
    """

    def __init__(self, mode="first_spike", **kwargs):
        if mode not in CHANNEL_MODES:
            raise ValueError(f"mode={mode!r}: a per-channel spike code is one of {', '.join(CHANNEL_MODES)}")
        super().__init__(mode=mode, **kwargs)

    def build(self, input_shape):
        if input_shape[-1] != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"ChannelFirstSpikeGabor takes RGB images of a known size, got {tuple(input_shape)}")
        super().build((*input_shape[:-1], 1))

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        planes = ops.reshape(ops.transpose(ops.cast(inputs, "float32"), (0, 3, 1, 2)), (-1, height, width, 1))
        codes = super().call(planes)  # (batch * 3, h, w, c): each channel coded as an image of its own
        per_channel = codes.shape[-1]
        codes = ops.transpose(ops.reshape(codes, (-1, 3, height, width, per_channel)), (0, 2, 3, 1, 4))
        return ops.reshape(codes, (-1, height, width, 3 * per_channel))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3 * super().compute_output_shape(input_shape)[-1])


@keras.saving.register_keras_serializable(package="keras_all")
class SpikesBesideColour(keras.layers.Layer):
    """RGB images (batch, h, w, 3) in 0..255 -> (batch, h, w, 3 + c): the image scaled to [0, 1], then the luma
    spike code of ``spike_mode`` (first_spike: 1 channel; spike_wave: timesteps x 4 orientations, step-major),
    Gaussian-blurred as the paper blurs its maps.

    Args:
        spike_mode: ``first_spike`` or ``spike_wave``.
        timesteps: latency bins T (15).
        blur_size: the blur's odd kernel side (9).
        **kwargs: Keras layer arguments.
    """

    def __init__(self, spike_mode="spike_wave", timesteps=15, blur_size=9, **kwargs):
        super().__init__(**kwargs)
        if spike_mode not in ("first_spike", "spike_wave"):
            raise ValueError(f"spike_mode={spike_mode!r}: use first_spike or spike_wave")
        self.spike_mode, self.timesteps, self.blur_size = spike_mode, timesteps, blur_size
        self.spikes = FirstSpikeGabor(mode=spike_mode, timesteps=timesteps, name="first_spike_gabor")
        self.blur = GaussianBlur(blur_size, name="gaussian_blur")

    @property
    def spike_channels(self) -> int:
        return 1 if self.spike_mode == "first_spike" else 4 * self.timesteps

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(f"SpikesBesideColour takes RGB images, got input shape {tuple(input_shape)}")
        self.spikes.build(input_shape)
        self.blur.build((*input_shape[:-1], self.spike_channels))

    def call(self, inputs):
        spikes = self.spikes(inputs)
        if self.spike_mode == "spike_wave":  # (batch, T, h, w, L) -> (batch, h, w, T * L)
            height, width = inputs.shape[1], inputs.shape[2]
            spikes = ops.reshape(ops.transpose(spikes, (0, 2, 3, 1, 4)), (-1, height, width, self.spike_channels))
        return ops.concatenate([ops.cast(inputs, "float32") / 255.0, self.blur(spikes)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3 + self.spike_channels)

    def get_config(self):
        return {**super().get_config(), "spike_mode": self.spike_mode, "timesteps": self.timesteps,
                "blur_size": self.blur_size}
