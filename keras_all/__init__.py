"""keras-all: spike-based Gabor preprocessing and a bottleneck ResNet for ALL detection in blood smears."""

__version__ = "0.1.0"
