"""The package's registered Keras layers (``keras.ops`` only: TensorFlow, JAX and PyTorch backends)."""

from .blur import GaussianBlur
from .decision import Decision
from .gabor import FirstSpikeGabor, Luma, gabor_bank
from .pca import PCAReconstruction, fit_pca
from .zscore import ZScore

__all__ = ["Decision", "FirstSpikeGabor", "GaussianBlur", "Luma", "PCAReconstruction", "ZScore", "fit_pca",
           "gabor_bank"]
