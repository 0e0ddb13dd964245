"""De-identification (PS3.15 Basic Profile): no planted identifier survives in the output bytes.

The tokens are searched in the bytes of the written file, so an attribute the code does not know
about, a nested item, the preamble or the file meta cannot hide one. The expectations come from
the standard's table (dicom-anonymizer's transcription) and the standard's attribute Types
(highdicom's tables), and the pixels are compared with pydicom's own decoding.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import dicom_dataset, jpeg_baseline_dataset, save
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.uid import generate_uid

from leaf_core.errors import InputFileError
from leaf_core.io import deidentify_dicom, read_image
from leaf_core.io.deidentify import deidentified_dicom_bytes, deidentify_dataset
from leaf_core.io.deidentify.basic_profile import TableAction, basic_profile
from leaf_core.io.deidentify.file_writer import IMPLEMENTATION_CLASS_UID
from leaf_core.io.redaction import Box
from leaf_core.testing import CT_IMAGE, SECONDARY_CAPTURE
from leaf_core.testing_identifiers import ENHANCED_CT_IMAGE, planted_dicom, surviving_tokens

VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
# What the issue found surviving the old keyword list, each with its action in PS3.15 2026c Table E.1-1.
ISSUE_ROWS = {
    "ConsultingPhysicianName": TableAction.Z, "ReviewerName": TableAction.X_Z,
    "VerifyingObserverName": TableAction.D, "PersonName": TableAction.D, "OrderEnteredBy": TableAction.X,
    "RequestedProcedureID": TableAction.X, "PlacerOrderNumberImagingServiceRequest": TableAction.Z,
    "FillerOrderNumberImagingServiceRequest": TableAction.Z, "SpecimenAccessionNumber": TableAction.X,
    "CassetteID": TableAction.X, "StationAETitle": TableAction.X, "DateOfSecondaryCapture": TableAction.X,
    "StudyArrivalDate": TableAction.X, "PerformedProcedureStepEndDate": TableAction.X,
    "FrameAcquisitionDateTime": TableAction.D, "StudyComments": TableAction.X, "ReasonForStudy": TableAction.X,
    "TextString": TableAction.X, "PerformedLocation": TableAction.X, "DeviceUID": TableAction.U,
    "SpecimenUID": TableAction.U, "IconImageSequence": TableAction.X,
}


def test_the_whole_table_is_loaded() -> None:
    profile = basic_profile()
    assert len(profile) > 600  # the 2026c table has 655 rows for the Basic Profile
    for keyword, action in ISSUE_ROWS.items():
        assert profile.action_for(pydicom.datadict.tag_for_keyword(keyword)) is action, keyword
    assert profile.action_for(0x50123000) is TableAction.X  # curve data, any 50xx group
    assert profile.action_for(0x60004000) is TableAction.X  # overlay comments


def test_no_planted_identifier_survives_in_the_file(tmp_path: Path) -> None:
    planted = planted_dicom()
    source = planted.write(tmp_path / "in.dcm")
    assert surviving_tokens(source.read_bytes(), planted) == {**planted.tokens, **planted.uids}  # all planted
    out = deidentify_dicom(source, tmp_path / "out.dcm", uid_salt="project-1")
    data = out.read_bytes()
    assert surviving_tokens(data, planted) == {}
    assert data[:128] == b"\0" * 128 and data[128:132] == b"DICM"

    stored = pydicom.dcmread(out)
    assert set(stored.file_meta.keys()) == {
        pydicom.datadict.tag_for_keyword(k) for k in ("FileMetaInformationGroupLength", "FileMetaInformationVersion",
                                                     "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID",
                                                     "TransferSyntaxUID", "ImplementationClassUID",
                                                     "ImplementationVersionName")}
    assert stored.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert not any(element.tag.is_private for element in stored.iterall())
    assert not any(element.tag.group & 0xFF00 in (0x5000, 0x6000) for element in stored.iterall())
    assert "IconImageSequence" not in stored
    for element in stored.iterall():  # every person name is empty or a dummy
        if element.VR == "PN":
            assert str(element.value or "") in ("", "ANONYMIZED"), element
    # Type 2 in the CT IOD: present and empty (Table E.1-1 Z, Z/D resolved by the Type)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyTime", "AccessionNumber",
                    "StudyID", "ReferringPhysicianName", "ContentDate", "ContentTime"):
        assert keyword in stored and not stored[keyword].value, keyword
    assert stored.PatientIdentityRemoved == "YES"
    assert "Basic Profile" in stored.DeidentificationMethod[0]
    assert [c.CodeValue for c in stored.DeidentificationMethodCodeSequence] == ["113100"]
    assert stored.LongitudinalTemporalInformationModified == "REMOVED"
    assert stored.SOPClassUID == CT_IMAGE and stored.AnatomicRegionSequence[0].CodeValue == "51185008"


def test_the_output_reads_as_the_source(tmp_path: Path) -> None:
    planted = planted_dicom()
    source = planted.write(tmp_path / "in.dcm")
    out = deidentify_dicom(source, tmp_path / "out.dcm", uid_salt="s")
    before, after = read_image(source), read_image(out)
    np.testing.assert_array_equal(after.intensity, before.intensity)
    np.testing.assert_array_equal(after.rgb, before.rgb)
    assert after.default_window == before.default_window == (40.0, 400.0)
    stored, original = pydicom.dcmread(out), pydicom.dcmread(source)
    np.testing.assert_array_equal(stored.pixel_array, original.pixel_array)
    for keyword in ("PixelSpacing", "SliceThickness", "ImageOrientationPatient", "ImagePositionPatient", "Rows",
                    "Columns", "RescaleSlope", "RescaleIntercept", "PhotometricInterpretation", "BitsStored"):
        assert stored[keyword].value == original[keyword].value, keyword
    assert after.meta.pixel_spacing == (0.7, 0.8)


def test_every_row_of_the_table_is_applied(tmp_path: Path) -> None:
    """A token in every attribute Table E.1-1 lists (VR from pydicom's dictionary): none survives."""
    ds = dicom_dataset(np.zeros((4, 4), np.uint8))
    tokens = {}
    for tag in basic_profile().exact:
        if tag >> 16 == 0x0002 or tag in ds or not keyword_for_tag(tag):
            continue
        vr = dictionary_VR(tag).split(" ")[0]
        token = f"ROW{len(tokens):04d}Z"
        if vr == "SQ":
            item = Dataset()
            item.PersonName = token  # the table's D: the items are cleaned too
            value = [item]
        elif vr == "UI":
            token = value = generate_uid()
        elif vr in ("DA", "DT", "TM"):
            n = len(tokens)
            day = (datetime.date(1931, 1, 1) + datetime.timedelta(days=n)).strftime("%Y%m%d")
            time = f"{n // 3600:02d}{n // 60 % 60:02d}{n % 60:02d}.424242"
            token = value = {"DA": day, "DT": day + "121212", "TM": time}[vr]
        elif vr in ("OB", "OW", "UN", "OF", "OD", "OL", "OV"):
            value = token.encode()
        elif vr in ("US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT", "DS", "IS", "AS"):
            continue  # numbers and ages cannot hold a unique token
        else:
            value = token
        ds.add_new(tag, vr, value)
        tokens[token] = keyword_for_tag(tag)
    assert len(tokens) > 550
    data = deidentified_dicom_bytes(ds, uid_salt="s")
    assert {t: k for t, k in tokens.items() if t.encode() in data} == {}


def test_uids_are_salted_and_consistent(tmp_path: Path) -> None:
    first, second = planted_dicom(prefix="A"), planted_dicom(prefix="B")
    second.dataset.StudyInstanceUID = first.dataset.StudyInstanceUID  # two images of one study
    a = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(first.dataset, uid_salt="s")))
    b = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(second.dataset, uid_salt="s")))
    again = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(first.dataset, uid_salt="s")))
    other = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(first.dataset, uid_salt="other")))
    assert a.StudyInstanceUID == b.StudyInstanceUID != other.StudyInstanceUID
    assert a.SOPInstanceUID == again.SOPInstanceUID != b.SOPInstanceUID
    assert a.StudyInstanceUID.startswith("2.25.") and a.StudyInstanceUID != first.dataset.StudyInstanceUID
    # one UID in two places gets one replacement (the dimension organisation of an enhanced image)
    ds = dicom_dataset(np.zeros((4, 4), np.uint16), sop_class=ENHANCED_CT_IMAGE)
    organisation = generate_uid()
    org, index = Dataset(), Dataset()
    org.DimensionOrganizationUID, index.DimensionOrganizationUID = organisation, organisation
    ds.DimensionOrganizationSequence, ds.DimensionIndexSequence = [org], [index]
    clean = deidentify_dataset(ds, uid_salt="s")
    new = clean.DimensionOrganizationSequence[0].DimensionOrganizationUID
    assert new == clean.DimensionIndexSequence[0].DimensionOrganizationUID != organisation
    assert clean.SOPClassUID == ENHANCED_CT_IMAGE  # class UIDs are kept
    assert ds.DimensionOrganizationSequence[0].DimensionOrganizationUID == organisation  # input untouched


def test_choices_follow_the_attribute_type_in_the_iod() -> None:
    """X/Z and Z/D by the Type of the attribute in the image's IOD (PS3.3, via highdicom's tables)."""
    def cleaned(sop_class: str) -> Dataset:
        planted = planted_dicom(sop_class=sop_class)
        return deidentify_dataset(planted.dataset, uid_salt="s")

    ct, enhanced, endoscopic = cleaned(CT_IMAGE), cleaned(ENHANCED_CT_IMAGE), cleaned(VL_ENDOSCOPIC)
    assert "AcquisitionContextSequence" not in ct  # X/Z, not in the CT Image IOD: removed
    assert list(endoscopic.AcquisitionContextSequence) == []  # X/Z, Type 2 in VL Endoscopic: emptied
    assert list(enhanced.AcquisitionContextSequence) == []
    assert "ContentDate" in ct and not ct.ContentDate and enhanced.ContentDate == "19000101"  # Z/D: Type 2C / Type 1 (dummy)
    assert "SourceImageSequence" not in ct  # X/Z/U*, Type 3
    assert "SeriesDate" not in ct and "InstitutionName" not in ct  # X/D, X/Z/D of Type 3
    frame = enhanced.SharedFunctionalGroupsSequence[0].FrameContentSequence[0]
    assert frame.FrameAcquisitionDateTime == "19000101000000"  # D, inside the functional groups
    assert "FrameComments" not in frame  # X inside the functional groups


def test_a_bare_dataset_without_preamble_or_suffix_is_de_identified(tmp_path: Path) -> None:
    planted = planted_dicom()
    source = planted.write(tmp_path / "DOE_JOHN_scan", with_preamble=False)
    assert source.read_bytes()[128:132] != b"DICM"
    data = deidentified_dicom_bytes(source, uid_salt="s")
    assert surviving_tokens(data, planted) == {}
    np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(data)).pixel_array, planted.dataset.pixel_array)


def test_burned_in_annotation_is_refused_naming_the_file(tmp_path: Path) -> None:
    ds = planted_dicom().dataset
    ds.BurnedInAnnotation = "YES"
    source = save(ds, tmp_path / "burned.dcm")
    with pytest.raises(InputFileError, match=r"burned\.dcm.*burned-in annotation"):
        deidentify_dicom(source, tmp_path / "out.dcm")
    assert not (tmp_path / "out.dcm").exists()


def test_redaction_boxes_are_painted_black_on_every_frame(tmp_path: Path) -> None:
    frames = np.stack([np.full((20, 30), 500 + 100 * i, np.uint16) for i in range(3)])
    ds = dicom_dataset(frames, frames=3, Modality="US")
    box = Box(2, 3, 12, 8)
    clean = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(ds, uid_salt="s", redactions=[box])))
    stored = clean.pixel_array
    assert (stored[:, 3:8, 2:12] == 0).all()
    outside = np.ones((20, 30), bool)
    outside[3:8, 2:12] = False
    np.testing.assert_array_equal(stored[:, outside], frames[:, outside])
    assert [c.CodeValue for c in clean.DeidentificationMethodCodeSequence] == ["113100", "113101"]

    ds.PhotometricInterpretation = "MONOCHROME1"  # black is the highest stored value there
    mono1 = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(ds, redactions=[box]))).pixel_array
    assert (mono1[:, 3:8, 2:12] == 0xFFFF).all()


def test_redaction_of_compressed_colour_decodes_and_paints(tmp_path: Path, colour8: np.ndarray) -> None:
    ds = jpeg_baseline_dataset(colour8, "YBR_FULL_422")
    decoded = pixel_array(ds)  # pydicom's own decoding, to RGB
    clean = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(ds, redactions=[Box(0, 0, 20, 10)])))
    assert clean.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert clean.PhotometricInterpretation == "RGB"
    painted = clean.pixel_array
    assert (painted[:10, :20] == 0).all()
    np.testing.assert_array_equal(painted[10:], decoded[10:])
    np.testing.assert_array_equal(read_image_bytes(tmp_path, painted_file=clean).rgb[10:], decoded[10:])
    untouched = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(ds, redactions=[Box(500, 500, 510, 510)])))
    assert untouched.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID  # outside: nothing re-encoded


def read_image_bytes(tmp_path: Path, painted_file: Dataset):  # noqa: ANN201
    path = tmp_path / "painted.dcm"
    painted_file.save_as(path, enforce_file_format=True)
    return read_image(path)


def test_secondary_capture_keeps_what_readers_need(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = dicom_dataset(grey16, sop_class=SECONDARY_CAPTURE, PixelSpacing=[0.2, 0.2])
    out = deidentify_dicom(save(ds, tmp_path / "in.dcm"), tmp_path / "out.dcm", uid_salt="s")
    np.testing.assert_array_equal(read_image(out).intensity, grey16)
    stored = pydicom.dcmread(out)
    assert (stored.Rows, stored.Columns, stored.PixelSpacing) == (64, 80, [0.2, 0.2])
    assert stored.ConversionType == "WSD" and stored.Modality == "OT"


def test_redaction_of_a_bare_dataset(tmp_path: Path, grey16: np.ndarray) -> None:
    planted = planted_dicom(grey16)
    source = planted.write(tmp_path / "scan", with_preamble=False)
    clean = pydicom.dcmread(io.BytesIO(deidentified_dicom_bytes(source, redactions=[Box(0, 0, 5, 5)])))
    assert (clean.pixel_array[:5, :5] == 0).all()
    np.testing.assert_array_equal(clean.pixel_array[5:], grey16[5:])
