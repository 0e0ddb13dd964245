"""Masks: read any raster mask as HxW bool, write 0/255 PNGs at the source image's size.

Reading rule: nonzero is foreground, in any channel of a colour mask (alpha ignored), by palette
index for palette images. JPEG masks are the exception: lossy compression smears edges into
small nonzero values, so a JPEG mask's foreground is any channel above 127.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from leaf_core.errors import InputFileError
from leaf_core.io.atomic import atomic_write_bytes
from leaf_core.io.images import image_size
from leaf_core.io.raster import decode_pixels

JPEG_MASK_THRESHOLD = 127


def read_mask(path: str | Path, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """HxW bool mask (True = foreground) from a PNG, JPEG, TIFF or BMP file.

    expected_shape: (height, width) of the image the mask belongs to; a different size raises
    InputFileError naming both sizes.
    """
    path = Path(path)
    pixels = decode_pixels(path)
    array = pixels.array
    threshold = JPEG_MASK_THRESHOLD if pixels.source_format == "jpeg" else 0
    foreground = array > threshold
    if foreground.ndim == 3:
        foreground = foreground.any(axis=2)
    if expected_shape is not None:
        check_mask_size(path, foreground.shape, expected_shape)
    return foreground


def check_mask_size(path: Path, mask_shape: tuple[int, ...], image_shape: tuple[int, int]) -> None:
    """Raise InputFileError naming both sizes when an HxW mask does not match its HxW image."""
    if tuple(mask_shape) != tuple(image_shape):
        raise InputFileError(
            path,
            f"mask is {mask_shape[1]}x{mask_shape[0]} but its image is {image_shape[1]}x{image_shape[0]} (width x height)",
        )


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of an HxW mask (bool or nonzero = foreground) as 8-bit 0/255.

    The same mask always gives the same bytes (the corrections store names files by them).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    return _png_bytes(np.where(mask != 0, 255, 0).astype(np.uint8))


def write_mask_png(mask: np.ndarray, path: str | Path) -> Path:
    """Write an HxW mask (bool or nonzero = foreground) as an 8-bit 0/255 PNG, atomically."""
    atomic_write_bytes(path, encode_mask_png(mask))
    return Path(path)


def write_label_map_png(labels: np.ndarray, path: str | Path) -> Path:
    """Write an HxW integer label map (0 = background) as an 8-bit PNG, or 16-bit above 255."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "uib":
        raise ValueError(f"labels must be an HxW integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError("labels must lie in [0, 65535]")
    dtype = np.uint8 if not labels.size or labels.max() <= 255 else np.uint16
    atomic_write_bytes(path, _png_bytes(labels.astype(dtype)))
    return Path(path)


def write_masks(items: Iterable[tuple[str | Path, np.ndarray]], out_dir: str | Path) -> list[Path]:
    """Write one ``<source stem>.png`` (0/255) per (source image path, HxW mask) into ``out_dir``.

    Every mask is checked against its source image's size (read from the header) and every
    name for collisions before anything is written, so a bad item leaves no half-written folder.
    Raises InputFileError for a size mismatch or an unreadable source, ValueError when two
    sources share a stem.
    """
    out_dir = Path(out_dir)
    planned: dict[str, tuple[Path, np.ndarray]] = {}
    for source, mask in items:
        source = Path(source)
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"the mask for '{source}' must be HxW, got shape {mask.shape}")
        if source.stem in planned:
            raise ValueError(f"'{planned[source.stem][0]}' and '{source}' would both be written as {source.stem}.png")
        check_mask_size(source, mask.shape, image_size(source))
        planned[source.stem] = (source, mask)
    return [write_mask_png(mask, out_dir / f"{stem}.png") for stem, (_, mask) in planned.items()]
