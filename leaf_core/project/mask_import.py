"""Masks made by another tool, matched to the open images so they can be saved as corrections.

A clinic often has masks already. ``match_masks(images, folder)`` pairs each image with a mask
file of the same stem (``x.jpg`` with ``x.png``, ``x_mask.png``, ``x_segmentation.png``, ...,
case-insensitive) and each DICOM image with a DICOM SEG that references its SOP Instance UID.
``read_imported_mask`` reads one as HxW bool at the image's size: any two-level image (0/255,
0/1, 30/200 ...; the brighter level is foreground; colour by its brightest channel), or the union
of a SEG's segments. Plain Python, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leaf_core.errors import InputFileError
from leaf_core.io.folders import IMAGE_SUFFIXES
from leaf_core.io.raster import decode_pixels
from leaf_core.io.sniff import sniff_format
from leaf_core.io.masks import JPEG_MASK_THRESHOLD, check_mask_size

# What other tools append to the image's stem (ISIC: _segmentation, many: _mask).
STEM_TAILS = ("", "_mask", "-mask", "_seg", "-seg", "_segmentation", "_label", "_gt")


@dataclass(frozen=True)
class ImageToMatch:
    """An open image: its path and, for DICOM, its SOP Instance UID (SEGs reference it)."""

    path: Path
    sop_instance_uid: str | None = None


@dataclass
class MaskMatches:
    """pairs: (image, mask file); unmatched_masks: files that fit no open image; problems:
    (file, why) for files that could not be used at all (an unreadable SEG)."""

    pairs: list[tuple[ImageToMatch, Path]] = field(default_factory=list)
    unmatched_masks: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)


def match_masks(images: list[ImageToMatch], folder: str | Path) -> MaskMatches:
    """Pair open images with the mask files directly inside ``folder`` (see the module doc)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "not a folder")
    by_stem = {image.path.stem.lower(): image for image in images}
    by_uid = {image.sop_instance_uid: image for image in images if image.sop_instance_uid}
    matches = MaskMatches()
    taken: set[Path] = set()
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in IMAGE_SUFFIXES)
    for path in files:
        image = _image_for(path, by_stem, by_uid, matches)
        if image is None:
            continue
        if image.path in taken:
            matches.problems.append((path, f"a second mask for '{image.path.name}' (the first one found is used)"))
            continue
        taken.add(image.path)
        matches.pairs.append((image, path))
    return matches


def _image_for(path: Path, by_stem: dict[str, ImageToMatch], by_uid: dict[str, ImageToMatch],
               matches: MaskMatches) -> ImageToMatch | None:
    try:
        is_dicom = sniff_format(path) == "dicom"
    except InputFileError as error:
        matches.problems.append((path, error.problem))
        return None
    if is_dicom:
        try:
            uids = segmentation_source_uids(path)
        except InputFileError as error:
            matches.problems.append((path, error.problem))
            return None
        image = next((by_uid[uid] for uid in uids if uid in by_uid), None)
    else:
        stem = path.stem.lower()
        image = next((by_stem[stem[: len(stem) - len(tail)]] for tail in STEM_TAILS
                      if stem.endswith(tail) and stem[: len(stem) - len(tail)] in by_stem), None)
    if image is None:
        matches.unmatched_masks.append(path)
    return image


def read_imported_mask(path: str | Path, image: ImageToMatch, expected_shape: tuple[int, int]) -> np.ndarray:
    """HxW bool mask for ``image`` from a two-level raster mask or a DICOM SEG (InputFileError otherwise)."""
    path = Path(path)
    if sniff_format(path) == "dicom":
        mask = _segmentation_mask(path, image)
    else:
        mask = _two_level_mask(path)
    check_mask_size(path, mask.shape, expected_shape)
    return mask


def _two_level_mask(path: Path) -> np.ndarray:
    pixels = decode_pixels(path)
    grey = pixels.array.max(axis=2) if pixels.array.ndim == 3 else pixels.array
    if pixels.source_format == "jpeg":  # lossy: edges smear into many levels
        return grey > JPEG_MASK_THRESHOLD
    levels = np.unique(grey)
    if len(levels) > 2:
        raise InputFileError(path, f"not a two-level mask: it has {len(levels)} grey levels "
                                   f"({', '.join(str(v) for v in levels[:4])}, ...)")
    if len(levels) == 1:
        return np.full(grey.shape, bool(levels[0] > 0))
    return grey == levels[1]


def segmentation_source_uids(path: Path) -> list[str]:
    """The SOP Instance UIDs a DICOM SEG references (InputFileError for any other DICOM file)."""
    segmentation = _read_segmentation(path)
    return [str(sop) for _study, _series, sop in segmentation.get_source_image_uids()]


def _read_segmentation(path: Path):  # noqa: ANN202 - highdicom.seg.Segmentation
    import highdicom as hd

    try:
        return hd.seg.segread(path)
    except Exception as error:  # highdicom raises many kinds for a file that is not a SEG
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputFileError(path, f"not a readable DICOM Segmentation ({first})") from None


def _segmentation_mask(path: Path, image: ImageToMatch) -> np.ndarray:
    segmentation = _read_segmentation(path)
    try:
        pixels = segmentation.get_pixels_by_source_instance(
            source_sop_instance_uids=[image.sop_instance_uid], combine_segments=True, skip_overlap_checks=True)
    except Exception as error:  # e.g. the SEG references a frame layout highdicom cannot index
        raise InputFileError(path, f"its segments for '{image.path.name}' cannot be read ({error})") from None
    return np.asarray(pixels)[0] > 0
