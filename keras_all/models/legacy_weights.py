"""Load weights saved by a Keras-2 model of the same architecture (legacy HDF5 ``.h5``), by layer name.

The authors' released files (Keras 2.4.0 ``save_weights``: a group per layer, its ``weight_names``
attribute naming datasets such as ``fc2/kernel:0``) call the classifier layer ``fc2``, where this
package's builder says ``fc``; every other weighted layer has the Keras-applications name of both.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np

ALIASES = {"fc": ("fc", "fc2")}  # this package's layer name -> names it may have in a Keras-2 file


def read_legacy_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {weight name ("kernel", "gamma", ...): array}} for every layer with weights in the file."""
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 weights file ({err})") from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        layers = {}
        for name, group in root.items():
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
            if names:
                layers[name] = {_short(n): np.asarray(group[n]) for n in names}
    return layers


def _short(weight_name: str) -> str:
    """'fc2/kernel:0' -> 'kernel'."""
    return weight_name.rsplit("/", 1)[-1].split(":")[0]


def stored_layer(stored: dict, name: str) -> dict | None:
    """The weights ``read_legacy_weights`` found for this package's layer ``name`` (under an alias too)."""
    return next((stored[n] for n in ALIASES.get(name, (name,)) if n in stored), None)


def load_legacy_weights(model: keras.Model, path: str | Path, stored: dict | None = None) -> list[str]:
    """Set every weighted layer of ``model`` from the group of the same name in a Keras-2 ``.h5`` file.

    Reads both ``model.save_weights`` files and whole-model files (weights under ``model_weights``);
    ``stored``, when given, is the file as ``read_legacy_weights`` already read it. Weights are matched
    by name (kernel, bias; gamma, beta, moving_mean, moving_variance). Returns the names of the layers
    set; any layer missing from the file, or of another shape, is an error naming it, and nothing is
    changed.
    """
    stored = read_legacy_weights(path) if stored is None else stored
    staged = {}
    for layer in _weighted_layers(model):
        found = stored_layer(stored, layer.name)
        if found is None:
            raise ValueError(f"{path}: no weights for layer {layer.name!r}; is it the same architecture?")
        wanted = [_short(w.name) for w in layer.weights]
        arrays = [found.get(name) for name in wanted]
        expected = [tuple(w.shape) for w in layer.weights]
        if any(a is None for a in arrays) or [a.shape for a in arrays] != expected:
            held = {name: a.shape for name, a in found.items()}
            raise ValueError(f"{path}: layer {layer.name!r} holds shapes {held}, the model expects "
                             f"{dict(zip(wanted, expected))}")
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
