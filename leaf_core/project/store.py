"""The corrections store: a project folder with an SQLite catalog and the files beside it.

Layout of a project folder (mode 0o700, files 0o600: it holds patient images)::

    catalog.sqlite       one row per saved correction (see catalog.py for the columns)
    files/<hash>.<ext>   training copies of the images (training_copy.py: DICOM de-identified,
                         other formats pixels only, redaction boxes painted black) and masks
                         (PNG 0/255), each named by a salted SHA-256 of its content (identity.py)
    models/              model versions v1, v2, ... and the ``current`` pointer (versions.py)

Nothing in the folder names a patient: images are known by their salted ``image_key``; the
catalog keeps an image's file name (a display name, never its folder) only when the project's
``keep_display_names`` setting is on (off by default; turning it off erases the names kept).

A save writes its files first (each atomically: temporary file, fsync, rename) and commits the
catalog row that names them last. Files are named by their content, so a save never overwrites a
file that an older row points at. Killed at any instant, the store holds the old state or the new
one; files a killed save left behind that no row names are deleted the next time it is opened.
A version 1 catalog is upgraded the same way when opened: new training copies first, then one
transaction that points the rows at them, then the old files are deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from leaf_core.errors import LeafError
from leaf_core.io.atomic import atomic_write_bytes, fsync_directory
from leaf_core.io.masks import check_mask_size, encode_mask_png, read_mask
from leaf_core.io.redaction import Box, boxes_from_lists
from leaf_core.io.sniff import sniff_format
from leaf_core.metrics import dice_score
from leaf_core.project import catalog
from leaf_core.project.identity import identify_image, stored_file_name
from leaf_core.project.training_copy import make_training_copy
from leaf_core.project.versions import ModelVersions

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"
FILES_DIR = "files"
MODELS_DIR = "models"
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class CorrectionRecord:
    """One saved correction. Paths are absolute, inside the project's files/ folder."""

    id: int
    image_key: str
    revision: int
    source_name: str | None
    """The image's file name when the project keeps display names, else None."""
    source_format: str
    frame: int | None
    image_path: Path
    corrected_mask_path: Path
    original_mask_path: Path | None
    height: int
    width: int
    model_version: str | None
    author: str
    task: str | None
    created_utc: str
    dice_change: float | None
    """Dice between the model's original mask and the corrected one (1.0: nothing changed)."""
    redactions: tuple[Box, ...] = ()
    """Boxes painted black in the stored image (burned-in text)."""

    def read_corrected_mask(self) -> np.ndarray:
        """The corrected mask, HxW bool."""
        return read_mask(self.corrected_mask_path)

    def read_original_mask(self) -> np.ndarray | None:
        """The model's original mask, HxW bool, or None when the correction started from nothing."""
        return None if self.original_mask_path is None else read_mask(self.original_mask_path)


class CorrectionStore:
    """A project: saved corrections with their history, exportable as a dataset folder."""

    def __init__(self, root: Path, connection: sqlite3.Connection) -> None:
        # Use create() or open(); the constructor takes an already checked catalog.
        self.root = root
        self.files_dir = root / FILES_DIR
        self._connection = connection
        self._lock_path = root / LOCK_NAME
        self._salt = catalog.read_meta(connection, "secret_salt") or ""
        self.models = ModelVersions(root / MODELS_DIR)

    # ----------------------------------------------------------------- opening
    @classmethod
    def create(cls, folder: str | Path, keep_display_names: bool = False, salt: str | None = None) -> CorrectionStore:
        """Make a new project in ``folder`` (absent or empty), readable by its owner only.

        ``salt`` fixes the project's secret, and so its image keys and which images go to val: for
        benchmarks on public data that must repeat; a clinic's project gets a random one."""
        root = Path(folder).resolve()  # absolute: training processes run in another folder
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise LeafError(f"cannot create a project in '{root}': the folder is not empty")
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(root, 0o700)  # mkdir's mode is filtered by the umask, and an existing folder kept its own
        (root / FILES_DIR).mkdir(mode=0o700, exist_ok=True)
        (root / MODELS_DIR).mkdir(mode=0o700, exist_ok=True)
        catalog_path = root / CATALOG_NAME
        # Create the file ourselves first so it never exists with a wider mode, even for an instant.
        os.close(os.open(catalog_path, os.O_CREAT | os.O_WRONLY, 0o600))
        connection = catalog.connect(catalog_path, create=True)
        catalog.create_schema(connection, salt)
        fsync_directory(root)
        store = cls(root, connection)
        if keep_display_names:
            store.set_keep_display_names(True)
        return store

    @classmethod
    def open(cls, folder: str | Path) -> CorrectionStore:
        """Open an existing project (upgrading a version 1 catalog) and delete what a killed save left behind."""
        root = Path(folder).resolve()
        catalog_path = root / CATALOG_NAME
        connection = catalog.connect(catalog_path)
        version = catalog.check_schema(connection, catalog_path)
        mode = stat.S_IMODE(root.stat().st_mode)
        if mode & 0o077:
            log.warning("project folder %s is readable by other users (mode %o); it holds patient images", root, mode)
        store = cls(root, connection)
        store.files_dir.mkdir(mode=0o700, exist_ok=True)
        if version == 1:
            store._upgrade_from_version_1()
        store.collect_garbage()
        return store

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> CorrectionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- settings
    @property
    def keep_display_names(self) -> bool:
        """Whether the catalog keeps each image's file name to show it (off unless the user turns it on)."""
        return catalog.read_meta(self._connection, catalog.KEEP_DISPLAY_NAMES) == "1"

    def set_keep_display_names(self, keep: bool) -> None:
        """Turn display names on or off; off erases the names already kept."""
        with catalog.transaction(self._connection) as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                       (catalog.KEEP_DISPLAY_NAMES, "1" if keep else "0"))
            if not keep:
                db.execute("UPDATE corrections SET source_name = NULL")

    @property
    def redaction_warning_shown(self) -> bool:
        """Whether the user was told, in this project, that an image may carry burned-in text."""
        return catalog.read_meta(self._connection, catalog.REDACTION_WARNING_SHOWN) == "1"

    def mark_redaction_warning_shown(self) -> None:
        catalog.write_meta(self._connection, catalog.REDACTION_WARNING_SHOWN, "1")

    # ------------------------------------------------------------------ saving
    def save_correction(
        self,
        image_path: str | Path,
        corrected_mask: np.ndarray,
        original_mask: np.ndarray | None,
        model_version: str | None,
        author: str,
        task: str | None = None,
        frame: int | None = None,
        redactions: Sequence[Box] = (),
    ) -> CorrectionRecord:
        """Save a corrected mask for an image as its next revision, atomically.

        Args:
            image_path: the image as opened in the app; its training copy is stored (DICOM
                de-identified, other formats pixels only; see training_copy.py).
            corrected_mask: HxW bool (nonzero is foreground), the user's corrected mask, at the image's size.
            original_mask: HxW, the model's mask before correction, or None (drawn from scratch).
            model_version: the model version that made ``original_mask`` (e.g. "v2"), or None.
            author: who corrected it (shown in the history; not a patient identifier).
            task: what was segmented (e.g. "optic disc"), or None.
            frame: frame index for multi-frame images, else None.
            redactions: boxes (image pixels) painted black in the stored copy, over burned-in text.
        Raises InputFileError for an image that cannot be read or kept, ValueError for bad masks.
        """
        corrected = _as_mask(corrected_mask, "corrected_mask")
        original = None if original_mask is None else _as_mask(original_mask, "original_mask")
        if original is not None and original.shape != corrected.shape:
            raise ValueError(f"mask shapes differ: original {original.shape}, corrected {corrected.shape}")
        if not author or not author.strip():
            raise ValueError("author must name who made the correction")
        source = Path(image_path)
        identity = identify_image(source, frame, self._salt)
        copy = make_training_copy(source, identity.source_format, frame, self._salt, tuple(redactions))
        check_mask_size(source, corrected.shape, (copy.height, copy.width))
        corrected_png = encode_mask_png(corrected)
        original_png = None if original is None else encode_mask_png(original)
        dice_change = None if original is None else float(dice_score(original, corrected))
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        display_name = source.name if self.keep_display_names else None
        boxes = json.dumps([box.as_list() for box in redactions]) if redactions else None

        with catalog.project_lock(self._lock_path):
            image_file = self._store_bytes(copy.data, copy.suffix)
            corrected_file = self._store_bytes(corrected_png, ".png")
            original_file = None if original_png is None else self._store_bytes(original_png, ".png")
            # Every file named below is on disk (fsynced, renamed, directory fsynced) before this commit.
            with catalog.transaction(self._connection) as db:
                row = db.execute(
                    "SELECT COALESCE(MAX(revision), 0) + 1 FROM corrections WHERE image_key = ?", (identity.key,)
                ).fetchone()
                cursor = db.execute(
                    """INSERT INTO corrections (image_key, revision, source_name, source_format, frame,
                           image_file, corrected_file, original_file, height, width, model_version,
                           author, task, created_utc, dice_change, redactions)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        identity.key, int(row[0]), display_name, identity.source_format, frame,
                        image_file, corrected_file, original_file, corrected.shape[0], corrected.shape[1],
                        model_version, author.strip(), task, created, dice_change, boxes,
                    ),
                )
                new_id = cursor.lastrowid
        return self._record(self._connection.execute("SELECT * FROM corrections WHERE id = ?", (new_id,)).fetchone())

    def _store_bytes(self, data: bytes, suffix: str) -> str:
        """Write ``data`` under files/ named by its salted SHA-256 (skipped when already there)."""
        name = stored_file_name(data, suffix, self._salt)
        target = self.files_dir / name
        if not target.exists():
            atomic_write_bytes(target, data)  # mkstemp makes it 0o600
        return name

    # ----------------------------------------------------------------- reading
    def history(self, image_key: str) -> list[CorrectionRecord]:
        """Every saved revision of one image, oldest first."""
        rows = self._connection.execute(
            "SELECT * FROM corrections WHERE image_key = ? ORDER BY revision", (image_key,)
        ).fetchall()
        return [self._record(row) for row in rows]

    def latest_corrections(self) -> list[CorrectionRecord]:
        """The newest revision of each image, in the order the images were first saved."""
        rows = self._connection.execute(
            """SELECT c.* FROM corrections c
               JOIN (SELECT image_key, MAX(revision) AS revision, MIN(id) AS first_id
                     FROM corrections GROUP BY image_key) newest
               ON c.image_key = newest.image_key AND c.revision = newest.revision
               ORDER BY newest.first_id"""
        ).fetchall()
        return [self._record(row) for row in rows]

    def latest_correction(self, image_key: str) -> CorrectionRecord | None:
        row = self._latest_row(image_key)
        return None if row is None else self._record(row)

    def image_count(self) -> int:
        """How many distinct images have a saved correction."""
        return int(self._connection.execute("SELECT COUNT(DISTINCT image_key) FROM corrections").fetchone()[0])

    def image_key_for(self, image_path: str | Path, frame: int | None = None) -> str:
        """The key under which ``image_path`` is (or would be) stored; see identity.py."""
        return identify_image(image_path, frame, self._salt).key

    def _latest_row(self, image_key: str) -> sqlite3.Row | None:
        return self._connection.execute(
            "SELECT * FROM corrections WHERE image_key = ? ORDER BY revision DESC LIMIT 1", (image_key,)
        ).fetchone()

    def _record(self, row: sqlite3.Row) -> CorrectionRecord:
        return CorrectionRecord(
            id=int(row["id"]),
            image_key=row["image_key"],
            revision=int(row["revision"]),
            source_name=row["source_name"],
            source_format=row["source_format"],
            frame=row["frame"],
            image_path=self.files_dir / row["image_file"],
            corrected_mask_path=self.files_dir / row["corrected_file"],
            original_mask_path=None if row["original_file"] is None else self.files_dir / row["original_file"],
            height=int(row["height"]),
            width=int(row["width"]),
            model_version=row["model_version"],
            author=row["author"],
            task=row["task"],
            created_utc=row["created_utc"],
            dice_change=row["dice_change"],
            redactions=tuple(boxes_from_lists(json.loads(row["redactions"]))) if row["redactions"] else (),
        )

    # -------------------------------------------------------------- exporting
    def export_dataset(self, out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0) -> Path:
        """Write the newest correction of each image as a dataset folder; see export.py."""
        from leaf_core.project.export import export_dataset

        return export_dataset(self, out_dir, val_fraction, seed)

    def assign_splits(self, image_keys: list[str], val_fraction: float = 0.2, seed: int = 0) -> dict[str, str]:
        """The part ("train" or "val") of each key. A key keeps its part for good once it has one;
        new keys fill val up to ``val_count`` of all the keys given, lowest hash first, so val's
        share is the fraction, not a coin toss per image (at 0.2, 20 corrections put anywhere from
        1 to 9 in val that way; now exactly 4)."""
        scheme = f"seed={seed} val={val_fraction!r}"
        keys = list(dict.fromkeys(image_keys))
        with catalog.transaction(self._connection) as db:
            known = {
                row["image_key"]: row["part"]
                for row in db.execute("SELECT image_key, part FROM split_assignments WHERE scheme = ?", (scheme,))
            }
            new_keys = sorted((k for k in keys if k not in known), key=lambda k: _unit_hash(seed, k))
            known_val = sum(known.get(k) == "val" for k in keys)
            n_val = min(max(val_count(len(keys), val_fraction) - known_val, 0), len(new_keys))
            assigned = {k: "val" if i < n_val else "train" for i, k in enumerate(new_keys)}
            db.executemany(
                "INSERT INTO split_assignments (scheme, image_key, part) VALUES (?, ?, ?)",
                [(scheme, k, part) for k, part in assigned.items()],
            )
        return {k: known.get(k) or assigned[k] for k in image_keys}

    # --------------------------------------------------------------- clean-up
    def collect_garbage(self) -> list[str]:
        """Delete files under files/ that no catalog row names (left by a killed save); return their names."""
        removed = []
        with catalog.project_lock(self._lock_path):
            referenced = set()
            for row in self._connection.execute("SELECT image_file, corrected_file, original_file FROM corrections"):
                referenced.update(name for name in row if name)
            for entry in self.files_dir.iterdir():
                if entry.name not in referenced and entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed.append(entry.name)
        if removed:
            log.info("removed %d file(s) no correction names from %s", len(removed), self.files_dir)
        return removed

    def _upgrade_from_version_1(self) -> None:
        """Version 1 kept raster images as they came (EXIF, text chunks), DICOM de-identified by a
        shorter list, file names for non-DICOM images and plain SHA-256 file names: replace every
        stored file by its training copy under a salted name and erase the names, in one transaction."""
        with catalog.project_lock(self._lock_path):
            rows = self._connection.execute(
                "SELECT id, image_file, corrected_file, original_file, frame FROM corrections"
            ).fetchall()
            renamed: dict[tuple[str, int | None], str] = {}
            updates = []
            for row in rows:
                image_key = (row["image_file"], row["frame"])
                if image_key not in renamed:
                    renamed[image_key] = self._store_training_copy_of(self.files_dir / row["image_file"], row["frame"])
                masks = [self._store_bytes((self.files_dir / name).read_bytes(), ".png") if name else None
                         for name in (row["corrected_file"], row["original_file"])]
                updates.append((renamed[image_key], *masks, row["id"]))
            with catalog.transaction(self._connection) as db:
                db.executemany(
                    "UPDATE corrections SET image_file = ?, corrected_file = ?, original_file = ?, source_name = NULL "
                    "WHERE id = ?", updates)
                catalog.upgrade_from_version_1(db)
        log.info("upgraded the catalog of %s to version %d (%d corrections)", self.root, catalog.SCHEMA_VERSION, len(rows))

    def _store_training_copy_of(self, stored: Path, frame: int | None) -> str:
        copy = make_training_copy(stored, sniff_format(stored), frame, self._salt)
        return self._store_bytes(copy.data, copy.suffix)


# ------------------------------------------------------------------ helpers
def val_count(n_images: int, val_fraction: float) -> int:
    """How many of ``n_images`` go to val: the nearest count to the fraction, at least one of two
    or more images (a lone image trains: there is nothing to train on otherwise), never all."""
    if n_images < 2 or val_fraction <= 0:
        return 0
    return min(max(round(val_fraction * n_images), 1), n_images - 1)


def _unit_hash(seed: int, image_key: str) -> float:
    """A number in [0, 1) fixed by (seed, image_key)."""
    digest = hashlib.sha256(f"{seed}:{image_key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _as_mask(mask: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be an HxW mask, got shape {array.shape}")
    return array.astype(bool)
