"""Planted identifiers for privacy tests: a DICOM file with a unique token in every hiding place.

``planted_dicom()`` builds a CT image (or another SOP class) whose every identifying place holds
its own token: the classic patient, study and staff attributes, the rarer ones Table E.1-1 lists
(consulting physician, reviewer, order numbers, specimen, cassette, station AE title, secondary
capture date, ...), person names and dates nested in sequences and functional groups, attributes
only the VR safety net catches, private tags (top level and nested), curve data (50xx), overlays
(60xx), the icon thumbnail, the preamble and the file meta. ``surviving_tokens(data, planted)``
lists the tokens and original UIDs still found in some bytes: a test searches the output bytes,
not the attributes the code knows about.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from leaf_core.testing import CT_IMAGE, dicom_dataset

ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"


@dataclass
class PlantedDicom:
    """A dataset full of planted identifiers, the preamble to write it with, and what to look for."""

    dataset: Dataset
    preamble: bytes
    tokens: dict[str, str] = field(default_factory=dict)
    """token -> where it was planted"""
    uids: dict[str, str] = field(default_factory=dict)
    """original UID -> where it was"""

    def write(self, path: Path, with_preamble: bool = True) -> Path:
        """Write the file; without preamble (and file meta) it is a bare dataset, as some archives keep them."""
        if with_preamble:
            self.dataset.preamble = self.preamble
            pydicom.dcmwrite(path, self.dataset, enforce_file_format=True)
        else:
            bare = Dataset()
            bare.update(self.dataset)
            bare.is_little_endian, bare.is_implicit_VR = True, False  # noqa: SIM112 (pydicom's names)
            pydicom.dcmwrite(path, bare, enforce_file_format=False, implicit_vr=False, little_endian=True)
        return path


class _Planter:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.tokens: dict[str, str] = {}
        self.uids: dict[str, str] = {}
        self._day = datetime.date(1931, 1, 1)

    def text(self, where: str) -> str:
        token = f"{self.prefix}{len(self.tokens):03d}Q"
        self.tokens[token] = where
        return token

    def name(self, where: str) -> str:
        return f"{self.text(where)}^{self.text(where + ' (given name)')}"

    def date(self, where: str) -> str:
        self._day += datetime.timedelta(days=37)
        token = self._day.strftime("%Y%m%d")
        self.tokens[token] = where
        return token

    def time(self, where: str) -> str:
        token = f"11{len(self.tokens) % 60:02d}07.{len(self.tokens):06d}"
        self.tokens[token] = where
        return token

    def datetime(self, where: str) -> str:
        token = self.date(where) + "235959"
        self.tokens[token] = where
        return token

    def uid(self, where: str) -> str:
        uid = generate_uid()
        self.uids[uid] = where
        return uid


def planted_dicom(
    pixels: np.ndarray | None = None, sop_class: str = CT_IMAGE, modality: str = "CT", prefix: str = "PHI"
) -> PlantedDicom:
    """A DICOM image with a unique token in every place listed in the module docstring.

    pixels: HxW (default: a 64x80 uint16 ramp); prefix: starts every text token, so two planted
    files in one test have different tokens.
    """
    if pixels is None:
        rows, cols = np.mgrid[0:64, 0:80]
        pixels = (100 + rows * 40 + cols * 15).astype(np.uint16)
    p = _Planter(prefix)
    ds = dicom_dataset(pixels, sop_class=sop_class)
    ds.Modality = modality
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        setattr(ds, keyword, p.uid(keyword))
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.8], 1.5
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [-10.5, 20.25, 3.0]

    for keyword in ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
                    "ReferringPhysicianName", "PerformingPhysicianName", "PhysiciansOfRecord",
                    "NameOfPhysiciansReadingStudy", "RequestingPhysician", "OperatorsName",
                    "ConsultingPhysicianName", "ReviewerName", "VerifyingObserverName", "PersonName",
                    "OrderEnteredBy", "ResponsiblePerson", "SecondaryReviewerName", "EvaluatorName"):
        setattr(ds, keyword, p.name(keyword))
    for keyword in ("PatientID", "OtherPatientIDs", "IssuerOfPatientID", "PatientAddress", "PatientTelephoneNumbers",
                    "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress",
                    "InstitutionalDepartmentName", "StationName", "StudyDescription", "SeriesDescription",
                    "ImageComments", "PatientComments", "AdditionalPatientHistory", "MedicalRecordLocator",
                    "DeviceSerialNumber", "ProtocolName", "RequestedProcedureID",
                    "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
                    "SpecimenAccessionNumber", "CassetteID", "StationAETitle", "StudyComments", "ReasonForStudy",
                    "PerformedLocation", "RequestedProcedureDescription", "DerivationDescription",
                    "PerformedProcedureStepID", "AdmissionID", "MilitaryRank", "Occupation"):
        setattr(ds, keyword, p.text(keyword))
    ds.TextString = p.text("TextString")
    for keyword in ("PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
                    "InstanceCreationDate", "DateOfSecondaryCapture", "StudyArrivalDate",
                    "PerformedProcedureStepStartDate", "PerformedProcedureStepEndDate", "SecondaryReviewDate",
                    "LastMenstrualDate"):
        setattr(ds, keyword, p.date(keyword))
    for keyword in ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "InstanceCreationTime",
                    "TimeOfGainCalibration", "PatientBirthTime"):
        setattr(ds, keyword, p.time(keyword))
    for keyword in ("AcquisitionDateTime", "StudyUpdateDateTime"):
        setattr(ds, keyword, p.datetime(keyword))
    for keyword in ("DeviceUID", "SpecimenUID", "IrradiationEventUID", "MultiFrameSourceSOPInstanceUID",
                    "TargetFrameOfReferenceUID", "InstanceCreatorUID"):
        setattr(ds, keyword, p.uid(keyword))

    context = Dataset()  # Acquisition Context: a content item naming a person
    context.ValueType, context.PersonName = "PNAME", p.name("PersonName in AcquisitionContextSequence")
    context.Date = p.date("Date in AcquisitionContextSequence")
    ds.AcquisitionContextSequence = [context]
    region = Dataset()  # a sequence the table does not list: only the nesting and the VR net reach it
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "51185008", "SCT", "Thorax"
    region.PersonName = p.name("PersonName in AnatomicRegionSequence")
    region.SecondaryReviewerName = p.name("SecondaryReviewerName in AnatomicRegionSequence")
    region.SecondaryReviewDate = p.date("SecondaryReviewDate in AnatomicRegionSequence")
    region.ReferencedSOPInstanceUID = p.uid("ReferencedSOPInstanceUID in AnatomicRegionSequence")
    region.add_new(0x00111000, "LO", "LEAF TEST CREATOR")
    region.add_new(0x00111001, "LO", p.text("private tag in AnatomicRegionSequence"))
    ds.AnatomicRegionSequence = [region]
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = CT_IMAGE
    referenced.ReferencedSOPInstanceUID = p.uid("ReferencedSOPInstanceUID in SourceImageSequence")
    ds.SourceImageSequence = [referenced]
    request = Dataset()
    request.RequestedProcedureID = p.text("RequestedProcedureID in RequestAttributesSequence")
    request.ScheduledProcedureStepID = p.text("ScheduledProcedureStepID in RequestAttributesSequence")
    ds.RequestAttributesSequence = [request]
    verifying = Dataset()
    verifying.VerifyingObserverName = p.name("VerifyingObserverName in VerifyingObserverSequence")
    verifying.VerifyingOrganization = p.text("VerifyingOrganization in VerifyingObserverSequence")
    verifying.VerificationDateTime = p.datetime("VerificationDateTime in VerifyingObserverSequence")
    ds.VerifyingObserverSequence = [verifying]
    for name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        frame_content = Dataset()
        frame_content.FrameAcquisitionDateTime = p.datetime(f"FrameAcquisitionDateTime in {name}")
        frame_content.FrameReferenceDateTime = p.datetime(f"FrameReferenceDateTime in {name}")
        frame_content.FrameComments = p.text(f"FrameComments in {name}")
        group = Dataset()
        group.FrameContentSequence = [frame_content]
        setattr(ds, name, [group])

    icon = Dataset()  # a thumbnail, whose pixels can show anything
    icon.Rows, icon.Columns, icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, 8, 1, "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
    icon.PixelData = p.text("IconImageSequence pixels").encode()
    ds.IconImageSequence = [icon]
    ds.add_new(0x50000022, "LO", p.text("curve description (5000,0022)"))
    ds.add_new(0x50003000, "OB", p.text("curve data (5000,3000)").encode() + b"\0")
    ds.add_new(0x60000022, "LO", p.text("overlay description (6000,0022)"))
    ds.add_new(0x60004000, "LT", p.text("overlay comments (6000,4000)"))
    ds.add_new(0x60003000, "OB", p.text("overlay data (6000,3000)").encode() + b"\0")
    ds.add_new(0x00091000, "LO", "LEAF TEST CREATOR")
    ds.add_new(0x00091001, "LO", p.text("private tag (0009,1001)"))
    ds.add_new(0x00091002, "OB", p.text("private binary (0009,1002)").encode() + b"\0")

    ds.file_meta.SourceApplicationEntityTitle = p.text("file meta SourceApplicationEntityTitle")
    ds.file_meta.SendingApplicationEntityTitle = p.text("file meta SendingApplicationEntityTitle")
    ds.file_meta.PrivateInformationCreatorUID = p.uid("file meta PrivateInformationCreatorUID")
    ds.file_meta.PrivateInformation = p.text("file meta PrivateInformation").encode()
    preamble_token = p.text("preamble")
    preamble = preamble_token.encode().ljust(128, b"\0")
    return PlantedDicom(ds, preamble, p.tokens, p.uids)


def surviving_tokens(data: bytes, planted: PlantedDicom) -> dict[str, str]:
    """The planted tokens and original UIDs found in ``data``, each with where it was planted."""
    found = {token: where for token, where in planted.tokens.items() if token.encode() in data}
    found.update({uid: where for uid, where in planted.uids.items() if uid.encode() in data})
    return found
