"""keras-all: spike-based Gabor preprocessing and a bottleneck ResNet for ALL detection in blood smears.

Importing the package registers its Keras layers, so ``keras.saving.load_model`` reads any keras-all
``.keras`` file after ``import keras_all``.
"""

from keras_all.quiet import start_keras

__version__ = "0.1.0"

start_keras()

from keras_all import layers  # noqa: E402  (registers FirstSpikeGabor, GaussianBlur, Luma, PCAReconstruction, Decision)

__all__ = ["layers"]
