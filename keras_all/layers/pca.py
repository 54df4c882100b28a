"""PCA reconstruction: fitted on training images only, then carried into the model as a layer."""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops
from sklearn.decomposition import PCA


def fit_pca(features: np.ndarray, n_components: int | float, random_state: int = 0) -> PCA:
    """Fit PCA on training rows (n_images, n_features), also when features far outnumber images.

    An integer asks for that many components, randomized SVD; a float in (0, 1) for the fewest
    components reaching that fraction of variance. More components than n_train - 1 (the rank of
    centred data) cannot be fitted: the count is capped there with a warning.
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"PCA takes (images, features) rows; got shape {features.shape}")
    n_images, n_features = features.shape
    if n_images < 2:
        raise ValueError(f"PCA needs at least 2 training images, got {n_images}")
    if isinstance(n_components, float):
        if not 0 < n_components < 1:
            raise ValueError(f"n_components={n_components}: a variance fraction must lie in (0, 1)")
        return PCA(n_components=n_components, svd_solver="full").fit(features)
    if not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components={n_components!r}: give a positive integer or a fraction in (0, 1)")
    limit = min(n_images - 1, n_features)
    if n_components > limit:
        warnings.warn(
            f"PCA: {n_components} components asked for, but {n_images} training images of {n_features} "
            f"features support at most {limit}; using {limit}",
            stacklevel=2,
        )
        n_components = limit
    return PCA(n_components=int(n_components), svd_solver="randomized", random_state=random_state).fit(features)


@keras.saving.register_keras_serializable(package="keras_all")
class PCAReconstruction(keras.layers.Layer):
    """x -> mean + (x - mean) C^T C for each flattened image: the projection onto fitted components.

    Build it from a fitted PCA with ``from_pca``; a fresh layer (e.g. on reload) starts from zeros
    and gets its mean and components from saved weights.
    """

    def __init__(self, n_components, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"n_components={n_components!r}: must be a positive integer")
        self.n_components = n_components

    @classmethod
    def from_pca(cls, pca: PCA, **kwargs) -> PCAReconstruction:
        layer = cls(int(pca.n_components_), **kwargs)
        layer._fitted = (pca.mean_.astype("float32"), pca.components_.astype("float32"))
        return layer

    def build(self, input_shape):
        features = int(np.prod(input_shape[1:]))
        self.mean = self.add_weight(name="mean", shape=(features,), initializer="zeros", trainable=False)
        self.components = self.add_weight(name="components", shape=(self.n_components, features),
                                          initializer="zeros", trainable=False)
        fitted = getattr(self, "_fitted", None)
        if fitted is not None:
            if fitted[0].shape != (features,):
                raise ValueError(f"PCA was fitted on {fitted[0].shape[0]} features, the input has {features}")
            self.mean.assign(fitted[0])
            self.components.assign(fitted[1])

    def call(self, inputs):
        shape = ops.shape(inputs)
        flat = ops.reshape(ops.cast(inputs, "float32"), (shape[0], -1)) - self.mean
        scores = ops.matmul(flat, ops.transpose(self.components))
        return ops.reshape(ops.matmul(scores, self.components) + self.mean, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n_components": self.n_components}
