"""UIDs in a de-identified dataset: which are kept, and the salted replacement of the others."""

from __future__ import annotations

import hashlib

from pydicom.uid import UID_dictionary

# Attributes whose UIDs name a kind of thing (a SOP class, a transfer syntax, a coding scheme),
# never an instance: they identify no one and readers need them.
CLASS_UID_KEYWORDS = frozenset({
    "SOPClassUID",
    "ReferencedSOPClassUID",
    "MediaStorageSOPClassUID",
    "ReferencedSOPClassUIDInFile",
    "RelatedGeneralSOPClassUID",
    "OriginalSpecializedSOPClassUID",
    "SOPClassesInStudy",
    "TransferSyntaxUID",
    "ReferencedTransferSyntaxUIDInFile",
    "CodingSchemeUID",
    "ContextUID",
    "MappingResourceUID",
})


def is_well_known_uid(uid: str) -> bool:
    """True for a UID of the standard's registry (PS3.6 Annex A: SOP classes, transfer syntaxes,
    coding schemes, well-known frames of reference, ...)."""
    return str(uid) in UID_dictionary


def replacement_uid(uid: str, uid_salt: str = "") -> str:
    """A new UID (2.25.<128-bit number>) from SHA-512 of ``uid_salt`` and ``uid``: same input, same output.

    The salt is a project secret: without it no one can recompute the new UID from the old one.
    """
    digest = hashlib.sha512(f"{uid_salt}\0{uid}".encode()).hexdigest()
    return f"2.25.{int(digest[:32], 16)}"
