"""REFUGE2 (optic cup) from its published layout, with SDSeg's split (the official parts).

Assumed layout (folder names compared case-insensitively, found up to 3 levels below SOURCE):

    SOURCE/train|Training/Images/*.jpg      SOURCE/train/Disc_Cup_Masks|Masks|GT/<stem>.bmp|.png
    SOURCE/val|Validation/...               SOURCE/test|Test/...

Masks are the challenge's grey maps: 0 = optic cup, 128 = optic disc rim, 255 = background, so
our cup mask is ``value == 0`` (the first channel of a colour-saved map).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leaf_core.io.raster import decode_pixels
from leaf_core.io.masks import check_mask_size
from leaf_core.io.importers.common import ImportSummary, SourcePair, find_dir, pair_by_name, write_dataset

NAME = "refuge2"
PART_FOLDERS = {"train": ("train", "training"), "val": ("val", "validation"), "test": ("test",)}
IMAGE_FOLDERS = ("Images", "images", "image")
MASK_FOLDERS = ("Disc_Cup_Masks", "Disc_Cup_Mask", "Masks", "mask", "gt", "Annotation")
CUP_VALUE = 0


def cup_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """HxW bool optic cup (value 0) of a REFUGE 0/128/255 map; InputFileError on size mismatch."""
    values = decode_pixels(path).array
    if values.ndim == 3:
        values = values[:, :, 0]
    check_mask_size(path, values.shape, shape)
    return values == CUP_VALUE


def import_refuge2(source: Path, out: Path, seed: int = 0) -> ImportSummary:
    """Import REFUGE2 into ``out``; the split is the official train/val/test (``seed`` unused)."""
    summary = ImportSummary("REFUGE2 (optic cup)", out)
    pairs: list[SourcePair] = []
    for part, names in PART_FOLDERS.items():
        part_dir = find_dir(source, *names)
        found, skipped = pair_by_name(find_dir(part_dir, *IMAGE_FOLDERS), find_dir(part_dir, *MASK_FOLDERS), lambda s: f"{s}.*", part)
        pairs += found
        summary.skipped += skipped

    def official_split(kept: dict[str, SourcePair]) -> dict[str, list[str]]:
        return {part: sorted(i for i, p in kept.items() if p.part == part) for part in PART_FOLDERS}

    note = "REFUGE2 challenge data; optic cup masks (value 0 in the 0/128/255 maps). Split: the official train/val/test folders, as SDSeg."
    return write_dataset(summary, pairs, cup_mask, official_split, note)
