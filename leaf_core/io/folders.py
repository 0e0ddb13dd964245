"""Folders of images: which files count as images (the one list of suffixes), and reading
many at once past the broken ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from leaf_core.errors import InputFileError
from leaf_core.io.image_types import LoadedImage
from leaf_core.io.images import read_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (not recursive), sorted by name.

    Hidden files (starting with '.') are left out. Selection is by ``IMAGE_SUFFIXES``; content
    is checked when each file is read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "not a folder")
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


@dataclass(frozen=True)
class SkippedFile:
    """A file a folder-level helper could not use, and why."""

    path: Path
    problem: str


def summarize_skipped(skipped: list[SkippedFile]) -> str:
    """One line per skipped file, headed by the count; '' when nothing was skipped."""
    if not skipped:
        return ""
    lines = [f"skipped {len(skipped)} file(s):"] + [f"  {s.path}: {s.problem}" for s in skipped]
    return "\n".join(lines)


def read_images(paths: Iterable[str | Path]) -> tuple[list[LoadedImage], list[SkippedFile]]:
    """Read many images, continuing past broken ones: (loaded, skipped) in input order."""
    loaded: list[LoadedImage] = []
    skipped: list[SkippedFile] = []
    for path in paths:
        try:
            loaded.append(read_image(path))
        except InputFileError as error:
            skipped.append(SkippedFile(error.path, error.problem))
    return loaded, skipped
