"""A de-identified dataset as the bytes of a DICOM file that carries nothing of its source's file.

The preamble (128 bytes that can hold anything, a name included) is zeroed and the file meta is
built afresh: our implementation class and version, no Source/Sending/Receiving AE titles, no
private information.
"""

from __future__ import annotations

import io
import uuid

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from leaf_core import __version__

IMPLEMENTATION_CLASS_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:leaf-annotate:dicom-implementation').int}"
IMPLEMENTATION_VERSION_NAME = f"LEAF_{__version__}"[:16]
PREAMBLE = b"\x00" * 128


def transfer_syntax_of(dataset: Dataset) -> UID:
    """The transfer syntax a dataset was read in (its file meta's, else its original encoding)."""
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    implicit, little = getattr(dataset, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = False, True
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def fresh_file_meta(dataset: Dataset, transfer_syntax: UID) -> FileMetaDataset:
    """File meta that names only the dataset's class, instance and encoding, and this program."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def replace_file_meta(dataset: Dataset, transfer_syntax: UID) -> None:
    """Give ``dataset`` a fresh file meta and a zeroed preamble, in place."""
    dataset.file_meta = fresh_file_meta(dataset, transfer_syntax)
    dataset.preamble = PREAMBLE


def dicom_file_bytes(dataset: Dataset) -> bytes:
    """``dataset`` (with the file meta ``replace_file_meta`` gave it) as the bytes of a DICOM file."""
    buffer = io.BytesIO()
    try:
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    except Exception as error:  # an element pydicom cannot encode
        raise ValueError(f"the de-identified copy cannot be written ({type(error).__name__}: {error})") from None
    return buffer.getvalue()
