"""Names in a project that say nothing about the patient: image keys and stored file names.

``image_key``: 16 hex digits of a SHA-256 of the project's secret salt and the image's identity,
which is the SOP Instance UID for DICOM (the file's bytes when it has none) and the file's bytes
for other formats, plus the frame of a multi-frame image. The same image gets the same key in
one project (saving again adds a revision) and another key in every other project, so someone
who has a patient's file or UIDs cannot look it up. Keys name images everywhere outside the
catalog: exported datasets, training folders, model cards.

``stored_file_name``: files under files/ are named by a salted SHA-256 of their content, so a
name never repeats a file name and cannot be recomputed from a known image.

What a file is comes from its content (``leaf_core.io.sniff``), never from its name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from leaf_core.errors import InputFileError
from leaf_core.io.sniff import sniff_format

KEY_LENGTH = 16


@dataclass(frozen=True)
class ImageIdentity:
    """Who an image is in a project: its key and what its content is ('dicom', 'png', 'jpeg', 'tiff', 'bmp')."""

    key: str
    source_format: str
    frame: int | None


def identify_image(path: str | Path, frame: int | None, salt: str) -> ImageIdentity:
    """The identity of ``path`` (frame: the frame of a multi-frame image, else None) in a project with ``salt``.

    Raises InputFileError for a missing, unreadable or unsupported file.
    """
    path = Path(path)
    source_format = sniff_format(path)
    if source_format == "dicom":
        uid = _sop_instance_uid(path)
        basis = f"dicom-sop:{uid}" if uid else "dicom-bytes:" + _file_sha256(path)
    else:
        basis = "sha256:" + _file_sha256(path)
    if frame is not None:
        basis += f"#frame={int(frame)}"
    key = hashlib.sha256(f"{salt}:{basis}".encode("utf-8")).hexdigest()[:KEY_LENGTH]
    return ImageIdentity(key, source_format, frame)


def stored_file_name(data: bytes, suffix: str, salt: str) -> str:
    """The name under files/ of a file holding ``data``: a salted SHA-256 of it, plus ``suffix``."""
    digest = hashlib.sha256(salt.encode("utf-8") + b"\0")
    digest.update(data)
    return digest.hexdigest() + suffix


def _sop_instance_uid(path: Path) -> str | None:
    import pydicom

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"], force=True)
    except Exception as error:  # pydicom raises many kinds for a damaged file
        raise InputFileError(path, f"not a readable DICOM file ({error})") from error
    uid = getattr(dataset, "SOPInstanceUID", None)
    return str(uid) if uid else None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise InputFileError(path, error.strerror or str(error)) from error
    return digest.hexdigest()
