"""Peer units beside ReGr: pixel-level non-local (NL), compact generalized non-local (CGNL) and
graph-based global reasoning (GloRe). Each takes ``in_channels`` first, maps ``(B, C, H, W)`` and
``(B, C, T, H, W)`` to the same shape, and is the identity when freshly built."""
from .cgnl import CGNL
from .glore import GloRe
from .nonlocal_block import NonLocal

__all__ = ["NonLocal", "CGNL", "GloRe"]
