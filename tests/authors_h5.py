"""An HDF5 file in exactly the layout of the authors' released weights (Keras 2.4.0 ``save_weights``)."""

import h5py
import numpy as np

from keras_all.models import build_resnet


def _keras2_names(model):
    """The model's layers in order, with the names a Keras-2 session gave them (generic ones numbered)."""
    counters = {}
    for layer in model.layers:
        name = layer.name
        if name == "fc":
            name = "fc2"  # the authors' classifier layer
        elif name == "resnet_input":
            name = "input_13"
        elif name == "conv1_pad":
            name = "zero_padding2d_12"
        elif name == "flatten":
            name = "flatten_12"
        elif name == "pool1":
            name = "max_pooling2d_12"
        elif not layer.weights and name != "avg_pool":
            kind = "add" if name.endswith("_add") else "activation"
            counters[kind] = counters.get(kind, {"add": 100, "activation": 335}[kind]) + 1
            name = f"{kind}_{counters[kind]}"
        yield layer, name


def write_authors_h5(path, size: int, channels: int = 3, seed: int = 0):
    """Random weights for the paper's ResNet at size x size x channels, written as the authors' files are;
    returns the source model (its weights are what a loader must reproduce)."""
    source = build_resnet((size, size, channels))
    rng = np.random.default_rng(seed)
    for weight in source.weights:
        values = rng.normal(size=weight.shape).astype("float32") * 0.05
        weight.assign(1 + abs(values) if weight.name == "moving_variance" else values)
    with h5py.File(path, "w") as handle:
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.4.0"
        named = list(_keras2_names(source))
        handle.attrs["layer_names"] = [name.encode() for _, name in named]
        for layer, name in named:
            group = handle.create_group(name)
            weight_names = [f"{name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = weight_names
            for weight_name, value in zip(weight_names, layer.get_weights()):
                group.create_dataset(weight_name.decode(), data=value)  # at fc2/fc2/kernel:0 in the file
    return source
