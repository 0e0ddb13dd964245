"""A dataset is a folder: images/<id>.<ext>, masks/<id>.png, splits.json.

splits.json holds {"train": [ids], "val": [ids], "test": [ids]}. When it is missing, a seeded
split of the sorted ids is made and written beside the data, so two runs see the same files.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaf_core.errors import InputFileError
from leaf_core.io.atomic import atomic_write_text
from leaf_core.io.folders import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class SplitFractions:
    """Fractions of a seeded split; test gets what is left."""

    train: float = 0.8
    val: float = 0.1


def seeded_order(ids: list[str], seed: int) -> list[str]:
    """The ids sorted, then shuffled by random.Random(seed): the one order every seeded split is cut from."""
    ordered = sorted(ids)
    random.Random(seed).shuffle(ordered)
    return ordered


def make_split(ids: list[str], seed: int = 0, fractions: SplitFractions = SplitFractions()) -> dict[str, list[str]]:
    """Split sorted ``ids`` into train/val/test with a seeded shuffle; every part comes back sorted."""
    ordered = seeded_order(ids, seed)
    n_train = int(round(len(ordered) * fractions.train))
    n_val = int(round(len(ordered) * fractions.val))
    if len(ordered) >= 2 and n_val == 0:
        n_val = 1
        n_train = min(n_train, len(ordered) - 1)
    parts = {
        "train": ordered[:n_train],
        "val": ordered[n_train : n_train + n_val],
        "test": ordered[n_train + n_val :],
    }
    return {name: sorted(part) for name, part in parts.items()}


def write_splits(root: str | Path, splits: dict[str, list[str]]) -> Path:
    """Write ``splits.json`` atomically, parts sorted, and return its path."""
    path = Path(root) / "splits.json"
    ordered = {name: sorted(splits.get(name, [])) for name in SPLIT_NAMES}
    atomic_write_text(path, json.dumps(ordered, indent=1) + "\n")
    return path


class DatasetFolder:
    """Read access to a dataset folder in our layout."""

    def __init__(self, root: str | Path, split_seed: int = 0) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.masks_dir = self.root / "masks"
        if not self.images_dir.is_dir():
            raise InputFileError(self.root, "not a dataset folder (no images/ inside)")
        self._images = {p.stem: p for p in sorted(self.images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        if not self._images:
            raise InputFileError(self.images_dir, "holds no images")
        self.splits = self._load_or_make_splits(split_seed)

    @property
    def ids(self) -> list[str]:
        """All image ids, sorted."""
        return sorted(self._images)

    def image_path(self, image_id: str) -> Path:
        return self._images[image_id]

    def mask_path(self, image_id: str) -> Path:
        return self.masks_dir / f"{image_id}.png"

    def read_pair(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(rgb HxWx3 uint8, mask HxW bool) at the original size; InputFileError when unreadable
        or when the mask's size differs from the image's."""
        from leaf_core.io.images import read_image
        from leaf_core.io.masks import read_mask

        image = read_image(self.image_path(image_id))
        return image.rgb, read_mask(self.mask_path(image_id), expected_shape=image.rgb.shape[:2])

    def readable_pairs(self, split: str, skipped: list[str] | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(id, rgb, mask) for each readable pair of a split; each unreadable one is logged and,
        when ``skipped`` is given, appended to it as one line."""
        for image_id in self.split(split):
            try:
                rgb, mask = self.read_pair(image_id)
            except InputFileError as error:
                log.warning("skipped: %s", error)
                if skipped is not None:
                    skipped.append(str(error))
                continue
            yield image_id, rgb, mask

    def split(self, name: str) -> list[str]:
        """Ids of one split that have both an image and a mask."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLIT_NAMES}")
        return [i for i in self.splits.get(name, []) if i in self._images and self.mask_path(i).exists()]

    def _load_or_make_splits(self, seed: int) -> dict[str, list[str]]:
        path = self.root / "splits.json"
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise InputFileError(path, f"not valid JSON ({error})") from error
            if not isinstance(data, dict) or not all(isinstance(data.get(n, []), list) for n in SPLIT_NAMES):
                raise InputFileError(path, 'expected {"train": [...], "val": [...], "test": [...]}')
            return {n: [str(i) for i in data.get(n, [])] for n in SPLIT_NAMES}
        labelled = [i for i in self._images if self.mask_path(i).exists()]
        splits = make_split(labelled, seed=seed)
        try:
            write_splits(self.root, splits)
        except OSError:
            pass  # a read-only dataset still works; the split is reproducible from the seed
        return splits
