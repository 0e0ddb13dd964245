"""The corrections store: a project folder with an SQLite catalog and the files beside it.

Layout of a project folder (mode 0o700, files 0o600: it holds patient images)::

    catalog.sqlite      one row per saved correction (see catalog.py for the columns)
    files/<sha256>.<ext> content-addressed copies: images (DICOM de-identified), masks (PNG 0/255)
    models/             model versions v1, v2, ... and the ``current`` pointer (versions.py)

A save writes its files first (each atomically: temporary file, fsync, rename) and commits the
catalog row that names them last. Files are named by their content, so a save never overwrites a
file that an older row points at. Killed at any instant, the store holds the old state or the new
one; files a killed save left behind that no row names are deleted the next time it is opened.

Image identity (``image_key``): 16 hex digits of a SHA-256 of the project's secret salt and the
SOP Instance UID for DICOM (the file's bytes for other formats), plus the frame for multi-frame
images; the salt also goes to DICOM de-identification for its new UIDs. The catalog never
holds a patient identifier: for DICOM no file name is kept at all (names of DICOM files often are
patient names); for other formats only the file name, never its folder.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from leaf_core.errors import InputFileError, LeafError
from leaf_core.io.atomic import atomic_write_bytes, fsync_directory
from leaf_core.io.dataset_folder import write_splits
from leaf_core.metrics import dice_score
from leaf_core.project import catalog
from leaf_core.project.versions import ModelVersions

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"
FILES_DIR = "files"
MODELS_DIR = "models"
LOCK_NAME = ".lock"
DICOM_SUFFIXES = (".dcm", ".dicom")
KEY_LENGTH = 16


@dataclass(frozen=True)
class CorrectionRecord:
    """One saved correction. Paths are absolute, inside the project's files/ folder."""

    id: int
    image_key: str
    revision: int
    source_name: str | None
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

    def read_corrected_mask(self) -> np.ndarray:
        """The corrected mask, HxW bool."""
        return read_mask_png(self.corrected_mask_path)

    def read_original_mask(self) -> np.ndarray | None:
        """The model's original mask, HxW bool, or None when the correction started from nothing."""
        return None if self.original_mask_path is None else read_mask_png(self.original_mask_path)


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
    def create(cls, folder: str | Path) -> CorrectionStore:
        """Make a new project in ``folder`` (absent or empty), readable by its owner only."""
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
        catalog.create_schema(connection)
        fsync_directory(root)
        return cls(root, connection)

    @classmethod
    def open(cls, folder: str | Path) -> CorrectionStore:
        """Open an existing project and delete what a killed save left behind."""
        root = Path(folder).resolve()
        catalog_path = root / CATALOG_NAME
        connection = catalog.connect(catalog_path)
        catalog.check_schema(connection, catalog_path)
        mode = stat.S_IMODE(root.stat().st_mode)
        if mode & 0o077:
            log.warning("project folder %s is readable by other users (mode %o); it holds patient images", root, mode)
        store = cls(root, connection)
        store.files_dir.mkdir(mode=0o700, exist_ok=True)
        store.collect_garbage()
        return store

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> CorrectionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    ) -> CorrectionRecord:
        """Save a corrected mask for an image as its next revision, atomically.

        Args:
            image_path: the image as opened in the app (DICOM is stored de-identified).
            corrected_mask: HxW bool (nonzero is foreground), the user's corrected mask.
            original_mask: HxW, the model's mask before correction, or None (drawn from scratch).
            model_version: the model version that made ``original_mask`` (e.g. "v2"), or None.
            author: who corrected it (shown in the history; not a patient identifier).
            task: what was segmented (e.g. "optic disc"), or None.
            frame: frame index for multi-frame images, else None.
        """
        corrected = _as_mask(corrected_mask, "corrected_mask")
        original = None if original_mask is None else _as_mask(original_mask, "original_mask")
        if original is not None and original.shape != corrected.shape:
            raise ValueError(f"mask shapes differ: original {original.shape}, corrected {corrected.shape}")
        if not author or not author.strip():
            raise ValueError("author must name who made the correction")
        source = Path(image_path)
        identity = _identify_source(source, frame, self._salt)
        corrected_png = encode_mask_png(corrected)
        original_png = None if original is None else encode_mask_png(original)
        dice_change = None if original is None else float(dice_score(original, corrected))
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds")

        with catalog.project_lock(self._lock_path):
            previous = self._latest_row(identity.key)
            image_file = self._store_image(source, identity, previous)
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
                           author, task, created_utc, dice_change)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        identity.key, int(row[0]), identity.source_name, identity.source_format, frame,
                        image_file, corrected_file, original_file, corrected.shape[0], corrected.shape[1],
                        model_version, author.strip(), task, created, dice_change,
                    ),
                )
                new_id = cursor.lastrowid
        return self._record(self._connection.execute("SELECT * FROM corrections WHERE id = ?", (new_id,)).fetchone())

    def _store_image(self, source: Path, identity: _SourceIdentity, previous: sqlite3.Row | None) -> str:
        if identity.source_format != "dicom":
            return self._store_bytes(identity.data, identity.suffix)
        if previous is not None:
            return str(previous["image_file"])  # the same instance: its de-identified copy is already here
        deidentify_dicom = _deidentifier()
        fd, tmp_name = tempfile.mkstemp(dir=self.files_dir, prefix=".deid-", suffix=".tmp")
        os.close(fd)
        try:
            deidentify_dicom(source, Path(tmp_name), uid_salt=self._salt)
            data = Path(tmp_name).read_bytes()
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return self._store_bytes(data, ".dcm")

    def _store_bytes(self, data: bytes, suffix: str) -> str:
        """Write ``data`` under files/ named by its SHA-256 (skipped when already there)."""
        name = hashlib.sha256(data).hexdigest() + suffix
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
        """The key under which ``image_path`` is (or would be) stored; see the module doc."""
        return _identify_source(Path(image_path), frame, self._salt).key

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
        )

    # -------------------------------------------------------------- exporting
    def export_dataset(self, out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0) -> Path:
        """Write the newest correction of each image as a dataset folder and return its path.

        Layout: images/<image_key>.<ext>, masks/<image_key>.png (0/255), splits.json with train,
        val and an empty test. An image's part is chosen once, from a hash of (seed, image key),
        and remembered in the catalog: later exports with more images never move it, so
        validation Dice stays comparable across fine-tunes. With two images or more, at least one
        is in val and one in train.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        records = self.latest_corrections()
        if not records:
            raise LeafError("the project has no saved corrections to export yet")
        out = Path(out_dir)
        if out.exists() and any(out.iterdir()):
            raise LeafError(f"cannot export to '{out}': the folder is not empty")
        parts = self.assign_splits([r.image_key for r in records], val_fraction, seed)
        for sub in (out, out / "images", out / "masks"):
            sub.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(out, 0o700)  # a dataset of patient images, like the project itself
        for record in records:
            image_target = out / "images" / f"{record.image_key}{record.image_path.suffix}"
            shutil.copyfile(record.image_path, image_target)
            os.chmod(image_target, 0o600)
            mask_target = out / "masks" / f"{record.image_key}.png"
            shutil.copyfile(record.corrected_mask_path, mask_target)
            os.chmod(mask_target, 0o600)
        splits = {name: [k for k, part in parts.items() if part == name] for name in ("train", "val")}
        write_splits(out, {**splits, "test": []})
        return out

    def assign_splits(self, image_keys: list[str], val_fraction: float = 0.2, seed: int = 0) -> dict[str, str]:
        """The part ("train" or "val") of each key; new keys get theirs now and keep it for good."""
        scheme = f"seed={seed} val={val_fraction!r}"
        with catalog.transaction(self._connection) as db:
            known = {
                row["image_key"]: row["part"]
                for row in db.execute("SELECT image_key, part FROM split_assignments WHERE scheme = ?", (scheme,))
            }
            new_keys = [k for k in dict.fromkeys(image_keys) if k not in known]
            assigned = {k: "val" if _unit_hash(seed, k) < val_fraction else "train" for k in new_keys}
            parts = {k: known.get(k) or assigned[k] for k in image_keys}
            # Only new keys may be moved, so nothing exported before ever changes part. A lone
            # image trains (there is nothing to train on otherwise); val comes with the next ones.
            if len(parts) == 1 and new_keys:
                assigned[new_keys[0]] = "train"
            elif len(parts) >= 2 and new_keys:
                if val_fraction > 0 and "val" not in parts.values():
                    assigned[min(new_keys, key=lambda k: _unit_hash(seed, k))] = "val"
                elif "train" not in parts.values():
                    assigned[max(new_keys, key=lambda k: _unit_hash(seed, k))] = "train"
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
            log.info("removed %d file(s) left by an interrupted save in %s", len(removed), self.files_dir)
        return removed


# ------------------------------------------------------------------ helpers
@dataclass(frozen=True)
class _SourceIdentity:
    key: str
    source_format: str
    source_name: str | None
    suffix: str
    data: bytes  # the file's bytes (empty for DICOM, which is copied through de-identification)


def _identify_source(path: Path, frame: int | None, salt: str) -> _SourceIdentity:
    try:
        if is_dicom_file(path):
            uid = _sop_instance_uid(path)
            basis = f"dicom-sop:{uid}" if uid else "dicom-bytes:" + _file_sha256(path)
            data, source_format, source_name, suffix = b"", "dicom", None, ".dcm"
        else:
            data = path.read_bytes()
            basis = "sha256:" + hashlib.sha256(data).hexdigest()
            suffix = path.suffix.lower()
            source_format, source_name = suffix.lstrip(".") or "unknown", path.name
    except OSError as error:
        raise InputFileError(path, error.strerror or str(error)) from error
    if frame is not None:
        basis += f"#frame={int(frame)}"
    key = hashlib.sha256(f"{salt}:{basis}".encode("utf-8")).hexdigest()[:KEY_LENGTH]
    return _SourceIdentity(key, source_format, source_name, suffix, data)


def is_dicom_file(path: Path) -> bool:
    """A .dcm/.dicom suffix, or the 'DICM' marker after the 128-byte preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _sop_instance_uid(path: Path) -> str | None:
    import pydicom

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"], force=True)
    except Exception as error:  # pydicom raises many kinds for a damaged file
        raise InputFileError(path, f"not a readable DICOM file ({error})") from error
    uid = getattr(dataset, "SOPInstanceUID", None)
    return str(uid) if uid else None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _deidentifier():
    try:
        from leaf_core.io.deidentify import deidentify_dicom
    except ImportError as error:
        # Never keep an identifiable copy: refuse rather than store the original.
        raise LeafError("cannot save a DICOM correction: DICOM de-identification is not available") from error
    return deidentify_dicom


def _unit_hash(seed: int, image_key: str) -> float:
    """A number in [0, 1) fixed by (seed, image_key)."""
    digest = hashlib.sha256(f"{seed}:{image_key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _as_mask(mask: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be an HxW mask, got shape {array.shape}")
    return array.astype(bool)


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of an HxW mask as 8-bit 0/255, as leaf_core.io.masks.write_mask_png writes it.

    The store needs the bytes before the file (its name is their hash), hence not write_mask_png.
    The same mask always gives the same bytes.
    """
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def read_mask_png(path: Path) -> np.ndarray:
    """An HxW bool mask from a stored PNG."""
    from leaf_core.io.masks import read_mask

    return read_mask(path)
