"""De-identification of DICOM kept for training: the stored copy holds no identifying attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import dicom_dataset, save
from pydicom.dataset import Dataset

from leaf_core.errors import InputFileError
from leaf_core.io import deidentify_dicom, read_image


def identified(grey16: np.ndarray) -> Dataset:
    ds = dicom_dataset(
        grey16, InstitutionName="St Elsewhere", PatientAddress="1 Main St", OtherPatientIDs="X1",
        OperatorsName="Op^Era", PatientAge="054Y", StudyDescription="Chest of Jane", PixelSpacing=[0.2, 0.2],
        SeriesDate="20240102", ContentDate="20240102",
    )
    ds.add_new(0x00091010, "LO", "private vendor secret")
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 8)  # overlay data
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = ds.SOPClassUID
    referenced.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    referenced.PatientName = "Nested^Name"
    ds.SourceImageSequence = [referenced]
    return ds


def test_stored_copy_has_no_identifiers(tmp_path: Path, grey16: np.ndarray) -> None:
    original = identified(grey16)
    out = deidentify_dicom(save(original, tmp_path / "in.dcm"), tmp_path / "train" / "out.dcm", uid_salt="project-1")
    stored = pydicom.dcmread(out)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "ReferringPhysicianName", "StudyDate"):
        assert keyword in stored and not stored[keyword].value, keyword  # Type 2: present, empty
    for keyword in ("InstitutionName", "PatientAddress", "OtherPatientIDs", "OperatorsName", "PatientAge", "StudyDescription", "SeriesDate", "ContentDate"):
        assert keyword not in stored, keyword
    assert not any(element.tag.is_private for element in stored.iterall())
    assert not any(element.tag.group == 0x6000 for element in stored)
    assert not stored.SourceImageSequence[0].PatientName
    assert stored.PatientIdentityRemoved == "YES" and "PS3.15" in stored.DeidentificationMethod
    assert stored.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert stored[keyword].value != original[keyword].value
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert stored.SourceImageSequence[0].ReferencedSOPInstanceUID == stored.SOPInstanceUID  # consistent
    np.testing.assert_array_equal(read_image(out).intensity, grey16)
    assert (stored.PixelSpacing, stored.Rows, stored.Columns) == (original.PixelSpacing, 64, 80)
    assert original.PatientName == "Doe^Jane"  # the input dataset is untouched


def test_uids_consistent_per_salt(tmp_path: Path, grey16: np.ndarray) -> None:
    original = identified(grey16)
    a = pydicom.dcmread(deidentify_dicom(original, tmp_path / "a.dcm", uid_salt="s"))
    b = pydicom.dcmread(deidentify_dicom(original, tmp_path / "b.dcm", uid_salt="s"))
    c = pydicom.dcmread(deidentify_dicom(original, tmp_path / "c.dcm", uid_salt="other"))
    assert a.StudyInstanceUID == b.StudyInstanceUID != c.StudyInstanceUID


def test_burned_in_annotation_refused(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = identified(grey16)
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(InputFileError, match="burned-in"):
        deidentify_dicom(save(ds, tmp_path / "burned.dcm"), tmp_path / "out.dcm")
    assert not (tmp_path / "out.dcm").exists()
