"""The package's registered Keras layers (``keras.ops`` only: TensorFlow, JAX and PyTorch backends)."""

from .blur import GaussianBlur
from .colour import ChannelFirstSpikeGabor, SpikesBesideColour
from .decision import Decision
from .gabor import FirstSpikeGabor, Luma, gabor_bank
from .pca import PCAReconstruction, fit_pca
from .resize import SkipSameSizeResizing
from .zscore import ZScore

__all__ = ["ChannelFirstSpikeGabor", "Decision", "FirstSpikeGabor", "GaussianBlur", "Luma", "PCAReconstruction",
           "SkipSameSizeResizing", "SpikesBesideColour", "ZScore", "fit_pca", "gabor_bank"]
