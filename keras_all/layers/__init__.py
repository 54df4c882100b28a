"""The package's registered Keras layers (``keras.ops`` only: TensorFlow, JAX and PyTorch backends)."""

from .blur import GaussianBlur
from .colour import ChannelFirstSpikeGabor, SpikesBesideColour
from .decision import Decision
from .gabor import FirstSpikeGabor, Luma, gabor_bank
from .pca import PCAReconstruction, fit_pca
from .resize import AreaResizing, area_resize
from .stain import ReinhardNormalization, StainJitter
from .zscore import ZScore

__all__ = ["AreaResizing", "ChannelFirstSpikeGabor", "Decision", "FirstSpikeGabor", "GaussianBlur", "Luma",
           "PCAReconstruction", "ReinhardNormalization", "SpikesBesideColour", "StainJitter", "ZScore",
           "area_resize", "fit_pca", "gabor_bank"]
