"""CVC-ClinicDB (colonoscopy polyps) from its published layout, split 80:10:10 seeded.

Assumed layout (found up to 3 levels below SOURCE): ``Original/<n>.tif`` frames and
``Ground Truth/<n>.tif`` masks (612 pairs; the PNG re-release with ``.png`` works too). Mask
foreground is any nonzero value.
"""

from __future__ import annotations

from pathlib import Path

from leaf_core.io.dataset_folder import SplitFractions, make_split
from leaf_core.io.importers.common import ImportSummary, find_dir, pair_by_name, write_dataset
from leaf_core.io.masks import read_mask

NAME = "cvc-clinicdb"
FRACTIONS = SplitFractions(train=0.8, val=0.1)


def import_cvc_clinicdb(source: Path, out: Path, seed: int = 0) -> ImportSummary:
    """Import CVC-ClinicDB into ``out`` with a seeded 80:10:10 split."""
    summary = ImportSummary("CVC-ClinicDB (polyp)", out)
    pairs, summary.skipped = pair_by_name(find_dir(source, "Original"), find_dir(source, "Ground Truth", "GroundTruth"), lambda s: f"{s}.*")
    note = f"CVC-ClinicDB: Original/ frames with Ground Truth/ masks. Split: seeded 80:10:10 (seed {seed})."
    return write_dataset(summary, pairs, read_mask, lambda kept: make_split(list(kept), seed, FRACTIONS), note)
