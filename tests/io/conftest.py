"""Fixtures that write the test files themselves: DICOM of every kind we read, raster images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

from leaf_core.testing import CT_IMAGE, SECONDARY_CAPTURE, dicom_dataset  # noqa: F401  (used by the tests)
from leaf_core.testing import save_dicom as save  # noqa: F401
SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def jpeg_baseline_dataset(rgb: np.ndarray, photometric: str) -> Dataset:
    """8-bit colour encapsulated as JPEG baseline: YBR_FULL_422 (4:2:2) or RGB (no colour transform)."""
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
    if photometric == "RGB":
        image.save(buffer, "JPEG", quality=95, keep_rgb=True)
    else:
        image.save(buffer, "JPEG", quality=95, subsampling=1)
    ds = dicom_dataset(rgb, "RGB")
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.PhotometricInterpretation = photometric
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PlanarConfiguration = 0
    return ds


@pytest.fixture
def grey16() -> np.ndarray:
    """64x80 uint16 ramp with structure, values 100..4000."""
    rows, cols = np.mgrid[0:64, 0:80]
    return (100 + rows * 40 + cols * 15).astype(np.uint16)


@pytest.fixture
def colour8() -> np.ndarray:
    """48x64x3 uint8 smooth colour image (JPEG-friendly)."""
    rows, cols = np.mgrid[0:48, 0:64]
    return np.stack([rows * 5, cols * 4, 255 - rows * 3], axis=2).astype(np.uint8)
