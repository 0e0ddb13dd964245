"""LEAF engine: single-step latent diffusion segmentation (no Qt in this package)."""

__version__ = "0.1.0"
