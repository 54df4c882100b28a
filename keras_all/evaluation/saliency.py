"""Where the model looks: integrated gradients (Sundararajan et al. 2017) of the ALL probability on the spike maps,
for the holdout images a run's delivered model is most sure of, right and wrong, per class.

A model that reads a label or scale bar in a corner shows it here: its influence sits in the corner, not on the cell.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from keras_all.evaluation.plots import saliency_plot
from keras_all.front import load_images

STEPS = 16  # Riemann steps along the path from the baseline map to the image's map


def probability_gradient(model: keras.Model, maps: np.ndarray) -> np.ndarray:
    """d P(ALL) / d maps of ``model`` (spike maps -> class probabilities), per image, under TensorFlow or JAX."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(maps, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(model(x, training=False)[:, 1])
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda x: model(x, training=False)[:, 1].sum())(maps.astype("float32")))
    raise ValueError(f"saliency needs the TensorFlow or JAX backend, not {backend}")


def integrated_gradients(model: keras.Model, maps: np.ndarray, baseline: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """Each map's attribution: (map - baseline) times the mean gradient along the straight path between them."""
    path = [baseline + (k + 0.5) / steps * (maps - baseline) for k in range(steps)]
    mean_gradient = np.mean([probability_gradient(model, point) for point in path], axis=0)
    return (maps - baseline) * mean_gradient


def chosen_images(test: pd.DataFrame, cutoff: float) -> pd.DataFrame:
    """Per class, the holdout image decided right with the most confidence and the one decided wrong with the most
    (where there is one): at most four rows, with a ``shown`` caption."""
    rows = []
    for label, name in ((1, "ALL"), (0, "healthy")):
        group = test[test["label"] == label]
        sure_of_all = group["probability"] if label == 1 else 1 - group["probability"]
        right = (group["probability"] >= cutoff) == (label == 1)
        for verdict, members in (("right", right), ("wrong", ~right)):
            if members.any():
                index = sure_of_all[members].idxmax() if verdict == "right" else sure_of_all[members].idxmin()
                caption = f"{name}, {verdict}: P(ALL) {test.at[index, 'probability']:.3f}"
                rows.append(test.loc[[index]].assign(shown=caption))
    return pd.concat(rows)


def saliency_figure(model, test: pd.DataFrame, path: str | Path) -> Path:
    """The delivered ``model``'s integrated gradients on the chosen holdout images (``chosen_images``), beside each
    image; written to ``path``."""
    shown = chosen_images(test, model.cutoff)
    preprocessor = model.preprocessor
    images = load_images(shown["path"], preprocessor.front)
    maps = keras.ops.convert_to_numpy(preprocessor.spike_maps(images))
    baseline = np.broadcast_to(keras.ops.convert_to_numpy(preprocessor.zscore.mean), maps.shape[1:])
    influence = np.abs(integrated_gradients(model.on_maps(), maps, baseline)).sum(axis=-1)
    return saliency_plot(images, influence, list(shown["shown"]), path)
