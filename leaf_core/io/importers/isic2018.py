"""ISIC 2018 Task 1 (skin lesion boundary) from its published training download.

Assumed layout (found up to 3 levels below SOURCE): ``ISIC2018_Task1-2_Training_Input/
ISIC_<7 digits>.jpg`` and ``ISIC2018_Task1_Training_GroundTruth/ISIC_<7 digits>_segmentation.png``
(2594 pairs; the LICENSE and ATTRIBUTION files beside them are ignored). Split: seeded 7:3
train:test of those pairs, then val = a seeded ``VAL_FRACTION`` (10 %) of the train part.
"""

from __future__ import annotations

from pathlib import Path

from leaf_core.io.importers.common import ImportSummary, SourcePair, find_dir, pair_by_name, shuffle_split, write_dataset
from leaf_core.io.masks import read_mask

NAME = "isic2018"
TEST_FRACTION = 0.3
VAL_FRACTION = 0.1


def import_isic2018(source: Path, out: Path, seed: int = 0) -> ImportSummary:
    """Import ISIC 2018 Task 1 into ``out`` with a seeded 7:3 split and val carved from train."""
    summary = ImportSummary("ISIC 2018 Task 1 (skin lesion)", out)
    pairs, summary.skipped = pair_by_name(
        find_dir(source, "ISIC2018_Task1-2_Training_Input"),
        find_dir(source, "ISIC2018_Task1_Training_GroundTruth"),
        lambda s: f"{s}_segmentation.png",
    )

    def split(kept: dict[str, SourcePair]) -> dict[str, list[str]]:
        train_val, test = shuffle_split(list(kept), TEST_FRACTION, seed)
        train, val = shuffle_split(train_val, VAL_FRACTION, seed)
        return {"train": train, "val": val, "test": test}

    note = f"ISIC 2018 Task 1 training data. Split: seeded 7:3 train:test, val = {VAL_FRACTION:.0%} of train (seed {seed})."
    return write_dataset(summary, pairs, read_mask, split, note)
