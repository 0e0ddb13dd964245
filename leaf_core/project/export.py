"""A project's corrections as a dataset folder (what fine-tuning trains on).

Layout: images/<image_key>.<ext>, masks/<image_key>.png (0/255), splits.json with train, val and
an empty test. Names are the salted image keys, never a file name. An image's part is chosen
once, from a hash of (seed, image key), and remembered in the catalog: later exports with more
images never move it, so validation Dice stays comparable across fine-tunes. With two images or
more, at least one is in val and one in train.

Images are the store's training copies. Each is checked by its content on the way out: a DICOM
file leaves only if it carries this program's de-identification record, and a frame of a
multi-frame DICOM file leaves as a PNG of that frame as the model sees it (the dataset reader
reads the first frame of a file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from leaf_core.errors import LeafError
from leaf_core.io.atomic import atomic_write_bytes
from leaf_core.io.dataset_folder import write_splits
from leaf_core.io.sniff import sniff_format
from leaf_core.project.training_copy import encode_png

if TYPE_CHECKING:
    from leaf_core.project.store import CorrectionRecord, CorrectionStore

DEIDENTIFIED_BY = "LEAF Annotate"


def export_dataset(store: CorrectionStore, out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0) -> Path:
    """Write the newest correction of each image of ``store`` into ``out_dir`` (absent or empty); return it."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    records = store.latest_corrections()
    if not records:
        raise LeafError("the project has no saved corrections to export yet")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise LeafError(f"cannot export to '{out}': the folder is not empty")
    images = [(record, *exported_image(record)) for record in records]  # every check before any write
    parts = store.assign_splits([r.image_key for r in records], val_fraction, seed)
    for sub in (out, out / "images", out / "masks"):
        sub.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)  # a dataset of patient images, like the project itself
    for record, data, suffix in images:
        atomic_write_bytes(out / "images" / f"{record.image_key}{suffix}", data)  # 0o600
        atomic_write_bytes(out / "masks" / f"{record.image_key}.png", record.corrected_mask_path.read_bytes())
    splits = {name: [k for k, part in parts.items() if part == name] for name in ("train", "val")}
    write_splits(out, {**splits, "test": []})
    return out


def exported_image(record: CorrectionRecord) -> tuple[bytes, str]:
    """(bytes, suffix) of a correction's image as it leaves the project; LeafError if it must not leave."""
    path = record.image_path
    if sniff_format(path) != "dicom":
        return path.read_bytes(), path.suffix  # a pixels-only copy (training_copy.py)
    from leaf_core.io.dicom import read_dataset
    from leaf_core.io.images import read_image

    header = read_dataset(path, stop_before_pixels=True)
    method = " ".join(str(v) for v in header.get("DeidentificationMethod") or [])
    if header.get("PatientIdentityRemoved") != "YES" or DEIDENTIFIED_BY not in method:
        raise LeafError(f"the stored image of '{record.image_key}' is DICOM that this program did not "
                        "de-identify; it is not exported (open the project again to upgrade it)")
    if int(header.get("NumberOfFrames") or 1) > 1:
        return encode_png(read_image(path, record.frame or 0).rgb), ".png"
    return path.read_bytes(), ".dcm"
