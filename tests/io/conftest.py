"""Fixtures that write the test files themselves: DICOM of every kind we read, raster images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def dicom_dataset(
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    sop_class: str = SECONDARY_CAPTURE,
    frames: int | None = None,
    **attributes: object,
) -> Dataset:
    """A complete DICOM image with a patient, study and series, holding ``pixels`` uncompressed.

    pixels: HxW, HxWx3, FxHxW or FxHxWx3 (``frames`` says the first axis is frames).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-12345"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101010"
    ds.AccessionNumber = "ACC999"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Modality = "OT"
    ds.Manufacturer = "Test"
    ds.ConversionType = "WSD"
    ds.set_pixel_data(pixels, photometric, int(pixels.dtype.itemsize * 8))
    if frames is not None:
        ds.NumberOfFrames = frames
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


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
