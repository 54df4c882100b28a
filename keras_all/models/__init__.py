"""The paper's ResNet: blocks, builder and weight import."""

from .blocks import conv_block, identity_block
from .legacy_weights import load_legacy_weights
from .loading import find_layer, load_model_file
from .resnet import PAPER_WIDTHS, build_resnet

__all__ = ["PAPER_WIDTHS", "build_resnet", "conv_block", "find_layer", "identity_block", "load_legacy_weights",
           "load_model_file"]
