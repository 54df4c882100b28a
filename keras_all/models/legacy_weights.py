"""Load weights saved by a Keras-2 model of the same architecture (legacy HDF5 ``.h5``), by layer name."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np


def load_legacy_weights(model: keras.Model, path: str | Path) -> list[str]:
    """Set every weighted layer of ``model`` from the group of the same name in a Keras-2 ``.h5`` file.

    Reads both ``model.save_weights`` files and whole-model files (weights under ``model_weights``).
    Weight order inside a layer is Keras' own (kernel, bias; gamma, beta, moving mean, moving variance).
    Returns the names of the layers set; any layer missing from the file, or of another shape, is an
    error naming it, and nothing is changed.
    """
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 weights file ({err})") from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        staged = {}
        for layer in _weighted_layers(model):
            if layer.name not in root:
                raise ValueError(f"{path}: no weights for layer {layer.name!r}; is it the same architecture?")
            group = root[layer.name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
            arrays = [np.asarray(group[name]) for name in names]
            expected = [tuple(w.shape) for w in layer.weights]
            if [a.shape for a in arrays] != expected:
                raise ValueError(f"{path}: layer {layer.name!r} holds shapes {[a.shape for a in arrays]}, "
                                 f"the model expects {expected}")
            staged[layer.name] = (layer, arrays)
    for layer, arrays in staged.values():
        layer.set_weights(arrays)
    return list(staged)


def _weighted_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield layer
