"""The package's registered Keras layers (``keras.ops`` only: TensorFlow, JAX and PyTorch backends)."""

from .blur import GaussianBlur
from .gabor import FirstSpikeGabor, gabor_bank
from .pca import PCAReconstruction, fit_pca

__all__ = ["FirstSpikeGabor", "GaussianBlur", "PCAReconstruction", "fit_pca", "gabor_bank"]
