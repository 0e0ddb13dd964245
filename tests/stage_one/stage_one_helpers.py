"""Shared helpers of the stage-one tests: where ../shared is, and a small real dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
KVASIR = SHARED / "data" / "kvasir-seg"
TAESD = SHARED / "weights" / "taesd"

needs_kvasir = pytest.mark.skipif(not (KVASIR / "splits.json").exists(),
                                  reason=f"real data not found at {KVASIR} (../shared beside the repo)")


def write_real_subset(root: Path, n_train: int = 8, n_val: int = 4) -> Path:
    """A dataset folder with the first train and val cases of kvasir-seg (copied, not resized)."""
    splits = json.loads((KVASIR / "splits.json").read_text())
    chosen = {"train": splits["train"][:n_train], "val": splits["val"][:n_val], "test": []}
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for image_id in chosen["train"] + chosen["val"]:
        shutil.copy(KVASIR / "images" / f"{image_id}.jpg", root / "images")
        shutil.copy(KVASIR / "masks" / f"{image_id}.png", root / "masks")
    (root / "splits.json").write_text(json.dumps(chosen))
    return root
