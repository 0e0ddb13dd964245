"""QaTa-COV19 v2 (COVID-19 infection on chest X-rays) from its published layout.

Assumed layout (found up to 3 levels below SOURCE, e.g. SOURCE = the QaTa-COV19-v2 folder or
its parent): ``Train Set/Images/<name>.png`` with ``Train Set/Ground-truths/mask_<name>.png``,
and the same under ``Test Set``. Split: the official test set; val is a seeded
``VAL_FRACTION`` of the official train set (20 %, as in LViT's widely used QaTa split).
"""

from __future__ import annotations

from pathlib import Path

from leaf_core.io.importers.common import ImportSummary, SourcePair, find_dir, pair_by_name, shuffle_split, write_dataset
from leaf_core.io.masks import read_mask

NAME = "qata-cov19"
VAL_FRACTION = 0.2
PART_FOLDERS = {"train": "Train Set", "test": "Test Set"}


def import_qata_cov19(source: Path, out: Path, seed: int = 0) -> ImportSummary:
    """Import QaTa-COV19 into ``out``: official train/test, val carved from train (seeded)."""
    summary = ImportSummary("QaTa-COV19 (COVID-19 infection)", out)
    pairs: list[SourcePair] = []
    for part, folder in PART_FOLDERS.items():
        part_dir = find_dir(source, folder)
        found, skipped = pair_by_name(find_dir(part_dir, "Images"), find_dir(part_dir, "Ground-truths"), lambda s: f"mask_{s}.png", part)
        pairs += found
        summary.skipped += skipped

    def split(kept: dict[str, SourcePair]) -> dict[str, list[str]]:
        train, val = shuffle_split([i for i, p in kept.items() if p.part == "train"], VAL_FRACTION, seed)
        return {"train": train, "val": val, "test": sorted(i for i, p in kept.items() if p.part == "test")}

    note = f"QaTa-COV19-v2: Train Set and Test Set with mask_ ground truths. Split: official test; val = seeded {VAL_FRACTION:.0%} of the official train set (seed {seed})."
    return write_dataset(summary, pairs, read_mask, split, note)
