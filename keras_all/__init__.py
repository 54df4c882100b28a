"""keras-all: spike-based Gabor preprocessing and a bottleneck ResNet for ALL detection in blood smears.

Importing the package registers its Keras layers and models, so ``keras.saving.load_model`` reads any
keras-all ``.keras`` file after ``import keras_all``. The Python API:

- ``SpikeResNetClassifier``: the whole model (``from_preset``, ``predict``, its parts as attributes
  ``preprocessor``, ``backbone`` and ``head``);
- ``load_model(reference)``: the delivered model of a run folder, an export folder, a ``.keras`` file or a
  SavedModel (``predict`` on raw images, ``cutoff``, ``classifier``, ``card``);
- ``train(data, preset=... | config=...)``: a cross-validated run, as ``keras-all train`` makes it;
- ``load_dataset``, ``load_config``, ``Standardizer``, ``RunFolder``, ``PRESETS``.

In the ``keras-all`` command the package starts light: the command line checks its options and files first, and
``start()`` starts Keras (and registers the layers) where a command computes.
"""

import importlib

from keras_all.quiet import start_keras, started_as_command

__version__ = "0.1.0"

_PUBLIC = {"PRESETS": "keras_all.presets", "FrontConfig": "keras_all.front", "LoadedModel": "keras_all.loader",
           "RunFolder": "keras_all.run_folder", "SpikePreprocessor": "keras_all.models",
           "SpikeResNetClassifier": "keras_all.models", "Standardizer": "keras_all.front",
           "TrainConfig": "keras_all.config", "load_config": "keras_all.config", "load_dataset": "keras_all.data",
           "load_model": "keras_all.loader", "train": "keras_all.api"}

__all__ = sorted([*_PUBLIC, "layers", "start"])


def start() -> None:
    """Start Keras (its start-up lines kept off the console) and register every keras-all layer and model with it;
    once per process."""
    start_keras()
    importlib.import_module("keras_all.layers")
    importlib.import_module("keras_all.models")


def __getattr__(name):
    """The public names, each imported on first use."""
    if name not in _PUBLIC and name != "layers":
        raise AttributeError(f"module 'keras_all' has no attribute {name!r}")
    start()
    value = importlib.import_module("keras_all.layers") if name == "layers" else getattr(
        importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


if not started_as_command():
    start()
