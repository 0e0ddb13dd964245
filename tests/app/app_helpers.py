"""Small test images written on the fly (the app tests never need ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_rgb(path: Path, height: int = 60, width: int = 80, seed: int = 0) -> Path:
    """A smooth colourful test image, so a changed pixel is easy to spot."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), np.full_like(xx, 90)], axis=-1)
    rgb = np.clip(rgb + rng.integers(-10, 10, size=rgb.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def write_grey16(path: Path, height: int = 60, width: int = 80) -> Path:
    """A 16-bit grey PNG (so it has intensity values to re-window)."""
    yy, xx = np.mgrid[0:height, 0:width]
    values = (xx * 4000 // max(1, width - 1) + yy * 10).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)
    return path
