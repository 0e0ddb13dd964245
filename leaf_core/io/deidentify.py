"""De-identify a DICOM image before it is kept in a training set.

Follows the Basic Application Level Confidentiality Profile (DICOM PS3.15 Annex E, Table
E.1-1) for the attributes an image carries, at every nesting level:

- removed (X): patient addresses, other IDs and names, ages, physicians, operators, institution
  addresses and departments, descriptions, comments, request attributes, private tags, overlays
  (which can hold burned-in text) and the rest of ``REMOVE`` below;
- emptied (Z, Type 2 attributes that must stay present): patient name, ID, birth date, sex,
  accession number, study ID, referring physician, study date and time;
- dates and times that are not Type 2 are removed;
- UIDs (U) are replaced by new ones derived from the old ones with SHA-512 and ``uid_salt``, so the
  images of one study keep one new study UID (give every project its own secret salt);
- the result says what was done: Patient Identity Removed = YES, De-identification Method and
  its code sequence (DCM 113100, Basic Application Confidentiality Profile).

Pixel data and geometry (spacing, orientation, position, size) are kept. An image that declares
Burned In Annotation = YES is refused: its pixels show identifying text that this profile
cannot remove.
"""

from __future__ import annotations

import copy
import hashlib
import io
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from leaf_core.errors import InputFileError
from leaf_core.io.atomic import atomic_write_bytes
from leaf_core.io.dicom import load_source

DEIDENTIFICATION_METHOD = "DICOM PS3.15 E.1 Basic Profile (LEAF Annotate)"

EMPTY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "StudyDate",
    "StudyTime",
    "ContentCreatorName",
)

REMOVE = (
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "PatientInsurancePlanCodeSequence",
    "PatientReligiousPreference",
    "PatientComments",
    "PatientState",
    "MilitaryRank",
    "BranchOfService",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "MedicalRecordLocator",
    "MedicalAlerts",
    "Allergies",
    "CountryOfResidence",
    "RegionOfResidence",
    "PregnancyStatus",
    "SmokingStatus",
    "LastMenstrualDate",
    "IssuerOfPatientID",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionCodeSequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "RequestingPhysician",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "ScheduledPerformingPhysicianName",
    "StationName",
    "DeviceSerialNumber",
    "DetectorID",
    "PlateID",
    "GantryID",
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "DerivationDescription",
    "RequestAttributesSequence",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "AdmissionID",
    "ServiceEpisodeID",
    "VisitComments",
    "RequestedProcedureDescription",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "ScheduledProcedureStepDescription",
    "ProtocolName",
    "TextComments",
    "AcquisitionComments",
    "ContentSequence",
    "OriginalAttributesSequence",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "AcquisitionDateTime",
    "InstanceCreationDate",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "InstanceCreationTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)

UID_KEYWORDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID",
    "DimensionOrganizationUID",
    "ConcatenationUID",
    "StorageMediaFileSetUID",
    "InstanceCreatorUID",
    "IrradiationEventUID",
)


def deidentify_dataset(dataset: Dataset, uid_salt: str = "") -> Dataset:
    """A de-identified deep copy of ``dataset`` (see the module docstring); the input is untouched."""
    if str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
        raise ValueError("the image declares burned-in annotation (identifying text in the pixels)")
    clean = copy.deepcopy(dataset)
    clean.remove_private_tags()
    _clean_level(clean, uid_salt)
    clean.PatientIdentityRemoved = "YES"
    clean.DeidentificationMethod = DEIDENTIFICATION_METHOD
    method_code = Dataset()
    method_code.CodeValue = "113100"
    method_code.CodingSchemeDesignator = "DCM"
    method_code.CodeMeaning = "Basic Application Confidentiality Profile"
    clean.DeidentificationMethodCodeSequence = Sequence([method_code])
    if hasattr(clean, "file_meta") and "MediaStorageSOPInstanceUID" in clean.file_meta:
        clean.file_meta.MediaStorageSOPInstanceUID = clean.SOPInstanceUID
    return clean


def _clean_level(dataset: Dataset, uid_salt: str) -> None:
    """Apply the profile to one level of a dataset and every sequence item below it."""
    for element in list(dataset):
        keyword = element.keyword
        if (element.tag >> 16) & 0xFF00 == 0x6000:  # overlays: groups 6000-60FF
            del dataset[element.tag]
        elif keyword in REMOVE:
            del dataset[element.tag]
        elif keyword in EMPTY:
            element.value = None
        elif keyword in UID_KEYWORDS and element.value:
            element.value = replacement_uid(str(element.value), uid_salt)
        elif element.VR == "SQ":
            for item in element.value:
                _clean_level(item, uid_salt)


def replacement_uid(uid: str, uid_salt: str = "") -> str:
    """A new UID (2.25.<128-bit number>) from SHA-512 of ``uid_salt`` and ``uid``: same input, same output."""
    digest = hashlib.sha512(f"{uid_salt}\0{uid}".encode()).hexdigest()
    return f"2.25.{int(digest[:32], 16)}"


def deidentify_dicom(source: str | Path | Dataset, out_path: str | Path, uid_salt: str = "") -> Path:
    """Write a de-identified copy of a DICOM image to ``out_path`` (atomically) and return it.

    source: a DICOM file or a dataset. uid_salt: a project secret that keeps the new UIDs from
    being recomputed by anyone who knows the old ones; UIDs stay consistent for one salt.
    Raises InputFileError for an unreadable source or one with burned-in annotation.
    """
    dataset, name = load_source(source)
    try:
        clean = deidentify_dataset(dataset, uid_salt)
    except ValueError as error:
        raise InputFileError(name, str(error)) from None
    buffer = io.BytesIO()
    clean.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(out_path, buffer.getvalue())
    return Path(out_path)
