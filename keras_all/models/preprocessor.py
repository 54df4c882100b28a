"""SpikePreprocessor: raw uint8 RGB images -> the backbone's input, as one registered Keras layer."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_all.front import FrontConfig, Standardizer, map_layers
from keras_all.layers import FirstSpikeGabor, GaussianBlur, Luma, PCAReconstruction, SpikesBesideColour, ZScore

# the stages the paper's Fig. 3 shows, by layer type
STAGE_TITLES = ((FirstSpikeGabor, "first-spike map"), (Luma, "gray input"), (keras.layers.Rescaling, "rgb input"),
                (SpikesBesideColour, "colour and spikes"), (GaussianBlur, "blurred"))


@keras.saving.register_keras_serializable(package="keras_all")
class SpikePreprocessor(keras.layers.Layer):
    """Raw uint8 RGB images of any size -> standardized maps at the backbone's input size.

    Two parts: the spike maps, fixed (resize to ``spike_size``, FirstSpikeGabor or a raw mode, blur, resize
    to ``input_size``), and the standardizer fitted on training maps (z-score, optional PCA
    reconstruction), after which a one-channel map is repeated to ``front.channels``. The fitted arrays are
    the layer's weights, so a ``.keras`` file carries them.

    Args:
        front: the front's settings (a ``FrontConfig`` or its dict).
        standardizer: a fitted ``Standardizer`` of this front, or None: an unfitted preprocessor computes
            spike maps (``spike_maps``) but refuses to standardize.
        n_components: the fitted PCA's component count (taken from ``standardizer``; set on reload).
        fitted: whether the weights hold a fit (taken from ``standardizer``; set on reload).
    """

    def __init__(self, front: FrontConfig | dict, standardizer: Standardizer | None = None,
                 n_components: int | None = None, fitted: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.front = front if isinstance(front, FrontConfig) else FrontConfig(**front)
        if standardizer is not None:
            if standardizer.config != self.front:
                raise ValueError("the standardizer was fitted for another front configuration")
            n_components, fitted = standardizer.n_components_, True
        if self.front.pca_components is None:
            n_components = None
        self.n_components, self.fitted = n_components, fitted
        self.map_layers = map_layers(self.front)
        self.zscore = ZScore("pixel" if self.front.zscore == "pixel" else "channel", name="zscore")
        self.pca = None if n_components is None else PCAReconstruction(n_components, name="pca_reconstruction")
        self.standardizer = standardizer  # None on reload: the fit then lives in the weights only

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the spike maps, before standardizing."""
        return self.front.input_size, self.front.input_size, self.front.map_channels

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.map_layers:
            if not layer.built:  # map_model() may have built them already
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.zscore.build((None, *self.map_shape))
        if self.pca is not None:
            self.pca.build((None, *self.map_shape))
        if self.standardizer is not None:
            self._assign(self.standardizer)

    def _assign(self, standardizer: Standardizer) -> None:
        self.zscore.mean.assign(standardizer.mean_)
        self.zscore.variance.assign(standardizer.variance_)
        if self.pca is not None:
            self.pca.mean.assign(standardizer.pca_.mean_.astype("float32"))
            self.pca.components.assign(standardizer.pca_.components_.astype("float32"))

    @classmethod
    def fitted_on(cls, images: np.ndarray, front: FrontConfig, random_state: int = 0,
                  batch_size: int = 32) -> SpikePreprocessor:
        """A preprocessor whose standardizer is fitted on the spike maps of ``images`` (n, h, w, 3) uint8."""
        maps = cls(front).map_model(images.shape[1:3]).predict(images, batch_size=batch_size, verbose=0)
        return cls(front, Standardizer(front, random_state).fit(maps))

    def spike_maps(self, images):
        """The fixed part alone: images (n, h, w, 3) -> maps (n, input_size, input_size, map channels)."""
        x = images
        for layer in self.map_layers:
            x = layer(x)
        return x

    def standardize(self, maps):
        """The fitted part alone: z-score, PCA reconstruction and the channel repeat of spike maps."""
        if not self.fitted:
            raise ValueError("this preprocessor's standardizer is not fitted: build the classifier with a "
                             "Standardizer fitted on training maps (keras_all.train does)")
        x = self.zscore(maps)
        if self.pca is not None:
            x = self.pca(x)
        return ops.concatenate([x] * self.front.channels, axis=-1) if self.front.channels > 1 else x

    def call(self, images):
        return self.standardize(self.spike_maps(images))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.front.input_size, self.front.input_size, self.front.model_channels)

    def map_model(self, image_size: tuple[int, int] | None = None) -> keras.Model:
        """images -> spike maps as a functional model, for ``predict`` over many images in batches: of any size,
        or of ``image_size`` (height, width) only, which lets the model skip a resize to the size they have."""
        inputs = keras.Input((*(image_size or (None, None)), 3), dtype="uint8", name="image")
        return keras.Model(inputs, self.spike_maps(inputs), name="spike_maps")

    def stages(self, images) -> dict[str, np.ndarray]:
        """Every stage the paper's Fig. 3 shows for ``images``: the map stages by title, then "model input"."""
        shown, x = {}, images
        for layer in self.map_layers:
            x = layer(x)
            title = next((title for kind, title in STAGE_TITLES if isinstance(layer, kind)), None)
            if title is not None:
                shown[title] = keras.ops.convert_to_numpy(x)
        shown["model input"] = keras.ops.convert_to_numpy(self.standardize(x))
        return shown

    def get_config(self):
        return {**super().get_config(), "front": self.front.to_dict(), "n_components": self.n_components,
                "fitted": self.fitted}
