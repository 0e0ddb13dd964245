"""What an image may cost, decided from its header before anything is decoded.

- ``MAX_IMAGE_PIXELS``: 150 megapixels per frame (about 12000x12500).
- ``MEMORY_BUDGET_BYTES``: the memory one read may take at its peak: the decoder's buffers
  (rows x columns x samples x bytes per sample x frames decoded, at the decoder's own layout)
  plus what the reader returns (``rgb`` HxWx3 uint8, and ``intensity`` HxW float32 for grey).
  With Python, numpy, Pillow and pydicom loaded, a read stays under about 1.5 GB.
- ``check_frame``: the frame (or page) asked for exists.
"""

from __future__ import annotations

from pathlib import Path

from leaf_core.errors import InputFileError

MAX_IMAGE_PIXELS = 150_000_000
MEMORY_BUDGET_BYTES = 1_100_000_000
RGB_BYTES_PER_PIXEL = 3
INTENSITY_BYTES_PER_PIXEL = 4


def check_pixel_limit(path: Path, width: int, height: int) -> None:
    """Refuse images above ``MAX_IMAGE_PIXELS`` (or with no pixels) before decoding them."""
    if width <= 0 or height <= 0:
        raise InputFileError(path, f"invalid image size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputFileError(
            path,
            f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), above the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f}-megapixel limit",
        )


def result_bytes(width: int, height: int, grey: bool) -> int:
    """Bytes of what a read returns: rgb, plus the float32 intensity of a grey image."""
    per_pixel = RGB_BYTES_PER_PIXEL + (INTENSITY_BYTES_PER_PIXEL if grey else 0)
    return width * height * per_pixel


def check_memory(path: Path, peak_bytes: int, what: str) -> None:
    """Refuse a read whose peak memory (worked out from the header) passes the budget.

    ``what`` describes the image for the message, e.g. "2000x3000, 3 samples of 16 bits".
    """
    if peak_bytes > MEMORY_BUDGET_BYTES:
        raise InputFileError(
            path,
            f"image ({what}) needs about {peak_bytes / 1e9:.1f} GB of memory to decode, above "
            f"the {MEMORY_BUDGET_BYTES / 1e9:.1f} GB memory budget",
        )


def check_frame(path: Path, frame: int | None, n_frames: int) -> int:
    """The 0-based frame to read: ``frame`` or 0, checked against ``n_frames``."""
    index = 0 if frame is None else int(frame)
    if not 0 <= index < n_frames:
        raise InputFileError(path, f"frame {index} out of range: the file has {n_frames} frame(s), 0 to {n_frames - 1}")
    return index
