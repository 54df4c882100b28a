"""The package's registered Keras layers (``keras.ops`` only: TensorFlow, JAX and PyTorch backends)."""

from .blur import GaussianBlur
from .colour import ChannelFirstSpikeGabor, SpikesBesideColour
from .decision import Decision
from .familiarity import ImageStatistics, Unfamiliarity
from .gabor import FirstSpikeGabor, Luma, gabor_bank
from .pca import PCAReconstruction, fit_pca
from .resize import AreaResizing, area_resize, area_resize_many
from .stain import ReinhardNormalization, StainJitter
from .zscore import ZScore

__all__ = ["AreaResizing", "ChannelFirstSpikeGabor", "Decision", "FirstSpikeGabor", "GaussianBlur", "ImageStatistics",
           "Luma", "PCAReconstruction", "ReinhardNormalization", "SpikesBesideColour", "StainJitter", "Unfamiliarity",
           "ZScore", "area_resize", "area_resize_many", "fit_pca", "gabor_bank"]
