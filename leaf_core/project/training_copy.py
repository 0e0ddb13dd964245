"""The copy of an image a project keeps for training: pixels and what reads them, nothing else.

- DICOM (detected by content): de-identified in memory (``leaf_core.io.deidentify``), every frame.
- Other formats: the decoded pixels of the frame, re-encoded as PNG (8-bit grey or RGB, 16-bit
  grey), or as a bare TIFF for floating-point grey, which PNG cannot hold. Nothing of the source
  file survives: no EXIF, XMP, ICC profile, comments, PNG text chunks or TIFF text tags, and the
  EXIF orientation is applied to the pixels, so the copy looks as the image did on screen.

Redaction boxes (burned-in text) are painted black in the copy: on every frame of a DICOM file,
on the frame for other formats.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from leaf_core.errors import InputFileError
from leaf_core.io.raster import decode_pixels
from leaf_core.io.redaction import Box, paint_boxes
from leaf_core.io.windowing import colour_to_uint8


@dataclass(frozen=True)
class TrainingCopy:
    """The bytes of the copy, the suffix its file gets, and the size of the frame (for the mask)."""

    data: bytes
    suffix: str
    height: int
    width: int


def make_training_copy(
    path: str | Path, source_format: str, frame: int | None, uid_salt: str, redactions: Sequence[Box] = ()
) -> TrainingCopy:
    """The training copy of ``path`` (whose content is ``source_format``), with ``redactions`` painted.

    Raises InputFileError for a file that cannot be read or must not be kept (burned-in annotation).
    """
    path = Path(path)
    if source_format == "dicom":
        return _dicom_copy(path, uid_salt, redactions)
    pixels = np.array(decode_pixels(path, frame).array, copy=True)
    if pixels.ndim == 3 and pixels.dtype != np.uint8:
        pixels = colour_to_uint8(pixels)  # what the model sees; PNG has no 16-bit RGB in Pillow
    black = float(np.nanmin(pixels)) if pixels.dtype.kind == "f" else 0
    paint_boxes(pixels, redactions, black, has_channels=pixels.ndim == 3)
    height, width = pixels.shape[:2]
    if pixels.dtype.kind == "f":
        return TrainingCopy(_bare_tiff(pixels), ".tiff", height, width)
    return TrainingCopy(encode_png(pixels), ".png", height, width)


def _dicom_copy(path: Path, uid_salt: str, redactions: Sequence[Box]) -> TrainingCopy:
    import pydicom

    from leaf_core.io.deidentify import deidentified_dicom_bytes

    data = deidentified_dicom_bytes(path, uid_salt, redactions)
    header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["Rows", "Columns"])
    if "Rows" not in header or "Columns" not in header:
        raise InputFileError(path, "no Rows/Columns: not a DICOM image")
    return TrainingCopy(data, ".dcm", int(header.Rows), int(header.Columns))


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG of HxW or HxWx3 uint8 / HxW uint16 pixels with IHDR, IDAT and IEND only (no text chunks)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _bare_tiff(pixels: np.ndarray) -> bytes:
    """A float32 TIFF with the structural tags only (no description, software or metadata)."""
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.ascontiguousarray(pixels, dtype=np.float32), metadata=None, software=False)
    return buffer.getvalue()
