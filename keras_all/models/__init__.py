"""The paper's ResNet (backbone and head), the preprocessor, and the classifier that joins them."""

from .blocks import conv_block, identity_block
from .classifier import DeliveredModel, SpikeResNetClassifier
from .ensemble import FoldEnsemble
from .legacy_weights import load_legacy_weights
from .loading import load_model_file
from .preprocessor import SpikePreprocessor
from .resnet import PAPER_WIDTHS, build_backbone, build_head, build_resnet

__all__ = ["PAPER_WIDTHS", "DeliveredModel", "FoldEnsemble", "SpikePreprocessor", "SpikeResNetClassifier",
           "build_backbone", "build_head", "build_resnet", "conv_block", "identity_block", "load_legacy_weights",
           "load_model_file"]
