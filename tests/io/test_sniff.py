"""'Is this DICOM' and format sniffing, by content only, against files pydicom and PIL write."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
import tifffile
from conftest import dicom_dataset, save
from PIL import Image
from reference_files import pydicom_test_files
from pydicom.dataset import Dataset

from leaf_core.errors import InputFileError
from leaf_core.io.sniff import is_dicom, sniff_format


def _without_preamble(path: Path) -> bytes:
    return path.read_bytes()[132:]


def test_part10_and_bare_datasets_are_dicom(tmp_path: Path, grey16: np.ndarray) -> None:
    part10 = save(dicom_dataset(grey16), tmp_path / "a.dcm")
    assert is_dicom(part10) and is_dicom(part10.read_bytes())
    bare = tmp_path / "bare"
    bare.write_bytes(_without_preamble(part10))  # starts with the (0002,xxxx) file meta
    assert is_dicom(bare) and sniff_format(bare) == "dicom"
    for little_endian, implicit_vr in ((True, True), (False, False)):  # no file meta at all
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, Dataset(dicom_dataset(grey16)), little_endian=little_endian, implicit_vr=implicit_vr)
        raw = buffer.getvalue()
        assert raw[:2] in (b"\x08\x00", b"\x00\x08"), raw[:8]  # group 0008 first
        assert is_dicom(raw), (little_endian, implicit_vr)


def test_dual_personality_tiff_preamble_is_dicom(tmp_path: Path, grey16: np.ndarray) -> None:
    """The standard allows a TIFF header in the preamble: 'DICM' at 128 decides first."""
    path = save(dicom_dataset(grey16), tmp_path / "dual.tif")
    data = bytearray(path.read_bytes())
    data[:8] = b"II*\x00\x08\x00\x00\x00"
    path.write_bytes(bytes(data))
    assert sniff_format(path) == "dicom"


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "png"), ("JPEG", "jpeg"), ("TIFF", "tiff"), ("BMP", "bmp")])
def test_rasters_are_not_dicom_whatever_their_name(tmp_path: Path, colour8: np.ndarray, fmt: str, name: str) -> None:
    path = tmp_path / "scan.dcm"  # a suffix says nothing
    if fmt == "TIFF":
        tifffile.imwrite(path, colour8)
    else:
        Image.fromarray(colour8).save(path, fmt)
    assert not is_dicom(path) and sniff_format(path) == name


def test_noise_and_text_are_not_dicom(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    assert not any(is_dicom(rng.integers(0, 256, 512, dtype=np.uint8).tobytes()) for _ in range(2000))
    # the strictest case: noise that starts like a group-0008 element
    assert not any(is_dicom(b"\x08\x00" + rng.integers(0, 256, 510, dtype=np.uint8).tobytes()) for _ in range(2000))
    path = tmp_path / "notes.dcm"
    path.write_text("Patient: Jane Doe, chest X-ray, see attached.\n" * 20)
    assert not is_dicom(path)
    with pytest.raises(InputFileError, match="not a supported image"):
        sniff_format(path)
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(InputFileError, match="empty file"):
        is_dicom(tmp_path / "empty.dcm")


def test_pydicom_test_files_are_dicom() -> None:
    """Every DICOM file pydicom ships and can itself parse is DICOM to us, by content."""
    checked = 0
    for name in pydicom_test_files():
        try:
            ds = pydicom.dcmread(name, force=True, stop_before_pixels=True)
        except Exception:
            continue
        if "SOPClassUID" not in ds and "Rows" not in ds:
            continue  # pydicom cannot make sense of it either (no_meta.dcm starts with a stray byte)
        assert is_dicom(name), name
        checked += 1
    assert checked >= 60
