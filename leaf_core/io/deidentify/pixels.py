"""Burned-in text in DICOM pixel data: paint redaction boxes black on every frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, pixel_array

from leaf_core.io.redaction import Box, paint_boxes


def redact_pixel_data(dataset: Dataset, boxes: Sequence[Box]) -> int:
    """Paint ``boxes`` (image pixels, as read_image shows the frame) black on every frame, in place.

    Compressed pixel data is decoded and stored uncompressed (Explicit VR Little Endian); YBR
    colour becomes RGB. Returns how many boxes touched the image (0: the pixels are untouched).
    """
    if not boxes:
        return 0
    if "PixelData" not in dataset:
        raise ValueError("only integer Pixel Data can be redacted (this image has none)")
    pixels = np.array(pixel_array(dataset), copy=True)  # YBR decoded to RGB
    samples = int(dataset.get("SamplesPerPixel", 1))
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples > 1:
        photometric = "RGB"
    painted = paint_boxes(pixels, boxes, _black(dataset, pixels, photometric), has_channels=samples > 1)
    if painted:
        dataset.set_pixel_data(pixels, photometric, int(dataset.BitsStored), generate_instance_uid=False)
    return painted


def _black(dataset: Dataset, pixels: np.ndarray, photometric: str) -> int:
    """The stored value shown black: the lowest (highest for MONOCHROME1), or the darkest palette entry."""
    bits = int(dataset.BitsStored)
    signed = int(dataset.get("PixelRepresentation", 0)) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if photometric == "MONOCHROME1":
        return high
    if photometric == "PALETTE COLOR":
        entries = np.arange(low, high + 1, dtype=pixels.dtype)
        rgb = apply_color_lut(entries, dataset).astype(np.float64)
        return int(entries[np.argmin(rgb @ np.array([0.299, 0.587, 0.114]))])
    return low
