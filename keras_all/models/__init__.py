"""The paper's ResNet: blocks, builder and weight import."""

from .blocks import conv_block, identity_block
from .resnet import PAPER_WIDTHS, build_resnet

__all__ = ["PAPER_WIDTHS", "build_resnet", "conv_block", "identity_block"]
