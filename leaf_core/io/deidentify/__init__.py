"""De-identify a DICOM image before it is kept in a training set (DICOM PS3.15 Annex E).

The Basic Application Level Confidentiality Profile, every row of Table E.1-1 (the edition
dicom-anonymizer carries, ``basic_profile``), applied at every nesting level with a safety net
keyed on the VR (``cleaner``): person names, dates and times the table does not list are emptied
or removed, instance UIDs replaced by salted ones (``uids``; same salt, same new UID, so a study
keeps one new Study Instance UID), private tags, curves, overlays and the icon removed. The file
gets a zeroed preamble and a fresh file meta (``file_writer``). Pixel data, geometry (spacing,
orientation, position, size) and the attributes that say how to show the pixels (photometric
interpretation, bits, rescale, window, LUTs) are kept; redaction boxes, when given, are painted
black in the pixel data (``pixels``).

The result records what was done, as PS3.15 E.1.1 asks: Patient Identity Removed = YES,
De-identification Method and its code sequence (DCM 113100, Basic Application Confidentiality
Profile; 113101, Clean Pixel Data Option, only when redaction boxes were painted), and
Longitudinal Temporal Information Modified = REMOVED (dates are removed, not shifted).

An image that declares Burned In Annotation = YES is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from leaf_core import __version__
from leaf_core.errors import InputFileError
from leaf_core.io.atomic import atomic_write_bytes
from leaf_core.io.deidentify.attribute_types import attribute_types
from leaf_core.io.deidentify.basic_profile import basic_profile
from leaf_core.io.deidentify.cleaner import Cleaner
from leaf_core.io.deidentify.file_writer import dicom_file_bytes, replace_file_meta, transfer_syntax_of
from leaf_core.io.deidentify.pixels import redact_pixel_data
from leaf_core.io.deidentify.uids import replacement_uid
from leaf_core.io.dicom import load_source
from leaf_core.io.redaction import Box

BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXEL_DATA_CODE = ("113101", "Clean Pixel Data Option")

__all__ = ["deidentified_dicom_bytes", "deidentify_dataset", "deidentify_dicom", "replacement_uid"]


def deidentify_dataset(dataset: Dataset, uid_salt: str = "", redactions: Sequence[Box] = ()) -> Dataset:
    """A de-identified deep copy of ``dataset`` (see the module docstring); the input is untouched.

    Raises ValueError for an image that declares burned-in annotation.
    """
    _refuse_burned_in(dataset)
    clean = copy.deepcopy(dataset)
    _deidentify_in_place(clean, uid_salt, redactions)
    return clean


def deidentified_dicom_bytes(source: str | Path | Dataset, uid_salt: str = "", redactions: Sequence[Box] = ()) -> bytes:
    """The bytes of a de-identified DICOM file made from ``source``, all in memory.

    source: a DICOM file (detected by content: no preamble needed) or a dataset (left untouched).
    uid_salt: a project secret; UIDs stay consistent for one salt.
    redactions: boxes painted black on every frame (burned-in text).
    Raises InputFileError for an unreadable source or one with burned-in annotation.
    """
    dataset, name = load_source(source)
    try:
        _refuse_burned_in(dataset)
        if isinstance(source, Dataset):
            dataset = copy.deepcopy(dataset)
        _deidentify_in_place(dataset, uid_salt, redactions)
        return dicom_file_bytes(dataset)
    except ValueError as error:
        raise InputFileError(name, str(error)) from None


def deidentify_dicom(
    source: str | Path | Dataset, out_path: str | Path, uid_salt: str = "", redactions: Sequence[Box] = ()
) -> Path:
    """Write a de-identified copy of a DICOM image to ``out_path`` (atomically) and return it.

    Same arguments and errors as ``deidentified_dicom_bytes``.
    """
    atomic_write_bytes(out_path, deidentified_dicom_bytes(source, uid_salt, redactions))
    return Path(out_path)


def _refuse_burned_in(dataset: Dataset) -> None:
    if str(dataset.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        raise ValueError(
            "the image declares burned-in annotation (identifying text in its pixels); "
            "it cannot be kept for training"
        )


def _deidentify_in_place(dataset: Dataset, uid_salt: str, redactions: Sequence[Box]) -> None:
    transfer_syntax = transfer_syntax_of(dataset)
    profile = basic_profile()
    Cleaner(profile, attribute_types(str(dataset.get("SOPClassUID", ""))), uid_salt).clean(dataset)
    if "SOPClassUID" not in dataset or "SOPInstanceUID" not in dataset:
        raise ValueError("no SOP Class UID or SOP Instance UID: not a DICOM image")
    replace_file_meta(dataset, transfer_syntax)  # before redaction, whose decoder reads the transfer syntax
    try:
        painted = redact_pixel_data(dataset, redactions)  # re-encoding updates the transfer syntax
    except Exception as error:  # pixel decoders raise many kinds
        raise ValueError(f"cannot paint the redaction boxes: the pixel data cannot be decoded ({error})") from None
    _record_method(dataset, profile.edition, pixels_cleaned=painted > 0)


def _record_method(dataset: Dataset, edition: str, pixels_cleaned: bool) -> None:
    """Say what was done, in the attributes PS3.15 E.1.1 names."""
    dataset.PatientIdentityRemoved = "YES"
    method = [f"DICOM PS3.15 Table E.1-1 {edition} Basic Profile", f"LEAF Annotate {__version__}"]
    codes = [BASIC_PROFILE_CODE]
    if pixels_cleaned:
        method.append("burned-in text painted over by user-drawn boxes")
        codes.append(CLEAN_PIXEL_DATA_CODE)
    dataset.DeidentificationMethod = method
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    dataset.DeidentificationMethodCodeSequence = DicomSequence(items)
    dataset.LongitudinalTemporalInformationModified = "REMOVED"
