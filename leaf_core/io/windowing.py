"""Values to display pixels: the linear window (PS3.3 C.11.2.1.2), the robust default window,
and colour scaled to 8 bits. Work is done in row blocks, so the float32 scratch stays small
whatever the image size (``BLOCK_PIXELS``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

AUTO_PERCENTILES = (0.5, 99.5)
BLOCK_PIXELS = 1 << 22  # float32 scratch per block: 16 MB


def row_blocks(n_rows: int, values_per_row: int) -> Iterator[slice]:
    """Slices of consecutive rows holding about ``BLOCK_PIXELS`` values each."""
    step = max(1, BLOCK_PIXELS // max(1, values_per_row))
    for start in range(0, n_rows, step):
        yield slice(start, start + step)


def apply_window(intensity: np.ndarray, center: float, width: float, invert: bool = False) -> np.ndarray:
    """Linear window (DICOM PS3.3 C.11.2.1.2) of HxW values to HxWx3 uint8 in [0, 255].

    Values below ``center - width/2`` go to 0, above ``center + width/2`` to 255; ``invert``
    flips the result (MONOCHROME1). Works in float32 row blocks, never on a full-size copy.
    """
    width = max(float(width), 1.0)
    offset = np.float32(center - 0.5)
    scale = np.float32(1.0 / (width - 1.0 if width > 1.0 else 1.0))
    rgb = np.empty((*intensity.shape, 3), dtype=np.uint8)
    for rows in row_blocks(*intensity.shape):
        scaled = np.asarray(intensity[rows], dtype=np.float32) - offset
        scaled *= scale
        scaled += np.float32(0.5)
        np.clip(scaled, 0.0, 1.0, out=scaled)
        scaled *= np.float32(255.0)
        grey = np.rint(scaled, out=scaled).astype(np.uint8)
        if invert:
            np.subtract(255, grey, out=grey)
        rgb[rows] = grey[:, :, None]
    return rgb


def robust_window(intensity: np.ndarray) -> tuple[float, float]:
    """(center, width) spanning the ``AUTO_PERCENTILES`` of the values; min-max when flat."""
    sample = intensity[:: max(1, intensity.shape[0] // 1024), :: max(1, intensity.shape[1] // 1024)]
    low, high = (float(v) for v in np.percentile(sample, AUTO_PERCENTILES))
    if high <= low:
        low, high = float(intensity.min()), float(intensity.max())
    return full_range_window(low, high)


def full_range_window(low: float, high: float) -> tuple[float, float]:
    """(center, width) whose window maps ``low`` to 0 and ``high`` to 255."""
    width = max(high - low + 1.0, 1.0)
    return low + width / 2.0, width


def colour_to_uint8(array: np.ndarray, bits_stored: int | None = None) -> np.ndarray:
    """HxWx3 colour to uint8 [0, 255]: integers scaled from [0, 2**bits_stored - 1] (default:
    the dtype's range), floats from their min-max. Works in row blocks."""
    if array.dtype == np.uint8 and bits_stored in (None, 8):
        return np.ascontiguousarray(array)
    if array.dtype.kind in "ui":
        low, top = 0.0, float(2 ** (bits_stored or 8 * array.dtype.itemsize) - 1)
    else:
        low, top = float(np.nanmin(array)), float(np.nanmax(array))
    factor = np.float32(255.0 / max(top - low, 1e-12))
    result = np.empty(array.shape, dtype=np.uint8)
    for rows in row_blocks(array.shape[0], array.shape[1] * array.shape[2]):
        scaled = array[rows].astype(np.float32)
        scaled -= np.float32(low)
        scaled *= factor
        np.clip(scaled, 0.0, 255.0, out=scaled)
        result[rows] = np.rint(scaled, out=scaled)
    return result
