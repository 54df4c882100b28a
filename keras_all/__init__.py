"""keras-all: spike-based Gabor preprocessing and a bottleneck ResNet for ALL detection in blood smears.

Importing the package registers its Keras layers and models, so ``keras.saving.load_model`` reads any
keras-all ``.keras`` file after ``import keras_all``. The Python API:

- ``SpikeResNetClassifier``: the whole model (``from_preset``, ``predict``, its parts as attributes
  ``preprocessor``, ``backbone`` and ``head``);
- ``load_model(reference)``: the delivered model of a run folder, an export folder, a ``.keras`` file or a
  SavedModel (``predict`` on raw images, ``cutoff``, ``classifier``, ``card``);
- ``train(data, preset=... | config=...)``: a cross-validated run, as ``keras-all train`` makes it;
- ``load_dataset``, ``load_config``, ``Standardizer``, ``RunFolder``, ``PRESETS``.
"""

from keras_all.quiet import start_keras

__version__ = "0.1.0"

start_keras()

# imported here so that every custom layer and model is registered with Keras
from keras_all import layers  # noqa: E402
from keras_all.config import TrainConfig, load_config  # noqa: E402
from keras_all.front import FrontConfig, Standardizer  # noqa: E402
from keras_all.loader import LoadedModel, load_model  # noqa: E402
from keras_all.models import SpikePreprocessor, SpikeResNetClassifier  # noqa: E402
from keras_all.presets import PRESETS  # noqa: E402
from keras_all.run_folder import RunFolder  # noqa: E402

__all__ = ["PRESETS", "FrontConfig", "LoadedModel", "RunFolder", "SpikePreprocessor", "SpikeResNetClassifier",
           "Standardizer", "TrainConfig", "layers", "load_config", "load_dataset", "load_model", "train"]


def __getattr__(name):
    """``train`` and ``load_dataset`` import the training and data code on first use (the CLI starts faster)."""
    if name == "train":
        from keras_all.api import train

        return train
    if name == "load_dataset":
        from keras_all.data import load_dataset

        return load_dataset
    raise AttributeError(f"module 'keras_all' has no attribute {name!r}")
