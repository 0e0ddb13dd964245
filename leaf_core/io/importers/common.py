"""What every dataset importer shares: finding folders, pairing files, writing our layout.

Our layout: OUT/images/<id>.<ext> (the source file copied byte for byte; the extension follows
its content), OUT/masks/<id>.png (0/255), OUT/splits.json, OUT/SOURCE.md. Ids are the image
file stems; where two official parts share a stem, every id gets its part as a prefix.
Every image and mask is decoded before it is kept, so a corrupt file is skipped with its reason
and the rest of the dataset is still imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leaf_core.errors import InputFileError, LeafError
from leaf_core.io.atomic import atomic_write_bytes, atomic_write_text
from leaf_core.io.dataset_folder import SPLIT_NAMES, seeded_order, write_splits
from leaf_core.io.folders import SkippedFile, list_images, summarize_skipped
from leaf_core.io.images import read_image
from leaf_core.io.masks import write_mask_png

SUFFIX_FOR_FORMAT = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "bmp": ".bmp", "dicom": ".dcm"}
MaskDecoder = Callable[[Path, tuple[int, int]], np.ndarray]


@dataclass(frozen=True)
class SourcePair:
    """One image and its mask in the published layout; ``part`` is its official split, if any."""

    image: Path
    mask: Path
    part: str | None = None


@dataclass
class ImportSummary:
    """What an import did: counts per split and every skipped file with its reason."""

    dataset: str
    out_dir: Path
    imported: int = 0
    split_sizes: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)

    def __str__(self) -> str:
        sizes = ", ".join(f"{name} {self.split_sizes.get(name, 0)}" for name in SPLIT_NAMES)
        lines = [f"{self.dataset}: imported {self.imported} pairs into {self.out_dir} ({sizes})"]
        if self.skipped:
            lines.append(summarize_skipped(self.skipped))
        return "\n".join(lines)


def find_dir(root: Path, *names: str) -> Path:
    """The shallowest folder under ``root`` (itself included, 3 levels deep) named like one of ``names``.

    Names compare case-insensitively. Raises InputFileError naming what was expected.
    """
    wanted = {name.lower() for name in names}
    level = [root]
    for _ in range(4):
        for folder in sorted(level):
            if folder.name.lower() in wanted:
                return folder
        level = [child for folder in level for child in sorted(folder.iterdir()) if child.is_dir()]
    raise InputFileError(root, f"no folder named {' or '.join(repr(n) for n in names)} inside (is this the published layout?)")


def pair_by_name(
    images_dir: Path, masks_dir: Path, mask_name: Callable[[str], str], part: str | None = None
) -> tuple[list[SourcePair], list[SkippedFile]]:
    """Pair each image in ``images_dir`` with ``masks_dir / mask_name(image stem)``.

    mask_name may end in '.*' to accept any image extension. Images without a mask are skipped.
    """
    masks = {p.name.lower(): p for p in list_images(masks_dir)}
    masks_by_stem = {p.stem.lower(): p for p in masks.values()}
    pairs, skipped = [], []
    for image in list_images(images_dir):
        expected = mask_name(image.stem)
        if expected.endswith(".*"):
            mask = masks_by_stem.get(expected[:-2].lower())
        else:
            mask = masks.get(expected.lower())
        if mask is None:
            skipped.append(SkippedFile(image, f"no mask '{expected}' in {masks_dir}"))
        else:
            pairs.append(SourcePair(image, mask, part))
    return pairs, skipped


def shuffle_split(ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(rest, part): a seeded ``fraction`` of the sorted ``ids`` (at least one when there are two), both
    sorted; cut from dataset_folder.seeded_order, as make_split's parts are."""
    ordered = seeded_order(ids, seed)
    n_part = max(1, round(len(ordered) * fraction)) if len(ordered) >= 2 else 0
    return sorted(ordered[n_part:]), sorted(ordered[:n_part])


def assign_ids(pairs: list[SourcePair]) -> dict[str, SourcePair]:
    """Ids from image stems; prefixed with the official part where parts share a stem."""
    stems = [p.image.stem for p in pairs]
    prefix = len(set(stems)) != len(stems) and all(p.part for p in pairs)
    ids = {(f"{p.part}-{p.image.stem}" if prefix else p.image.stem): p for p in pairs}
    if len(ids) != len(pairs):
        raise LeafError("two images share a file name; cannot give them distinct ids")
    return ids


def write_dataset(
    summary: ImportSummary,
    pairs: list[SourcePair],
    decode_mask: MaskDecoder,
    make_splits: Callable[[dict[str, SourcePair]], dict[str, list[str]]],
    source_note: str,
) -> ImportSummary:
    """Decode, copy and write every pair into ``summary.out_dir``, then splits.json and SOURCE.md."""
    out = summary.out_dir
    if out.exists() and any(out.iterdir()):
        raise LeafError(f"output folder '{out}' is not empty; choose a new folder")
    kept: dict[str, SourcePair] = {}
    for image_id, pair in sorted(assign_ids(pairs).items()):
        try:
            image = read_image(pair.image)
            mask = decode_mask(pair.mask, (image.meta.height, image.meta.width))
        except InputFileError as error:
            summary.skipped.append(SkippedFile(error.path, error.problem))
            continue
        suffix = SUFFIX_FOR_FORMAT[image.meta.source_format]
        atomic_write_bytes(out / "images" / f"{image_id}{suffix}", pair.image.read_bytes())
        write_mask_png(mask, out / "masks" / f"{image_id}.png")
        kept[image_id] = pair
    if not kept:
        raise LeafError(f"nothing imported from the {summary.dataset} source\n{summarize_skipped(summary.skipped)}")
    splits = make_splits(kept)
    write_splits(out, splits)
    summary.imported = len(kept)
    summary.split_sizes = {name: len(splits.get(name, [])) for name in SPLIT_NAMES}
    report = str(summary).replace(str(out), "OUT")  # no absolute paths: two runs write the same file
    atomic_write_text(out / "SOURCE.md", f"# {summary.dataset}\n\n{source_note.strip()}\n\nImported by `leaf import-dataset`.\n\n```\n{report}\n```\n")
    return summary
