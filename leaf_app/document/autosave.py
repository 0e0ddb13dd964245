"""Unsaved masks survive a crash: the session is written to a folder now and then, atomically.

Layout of the folder: ``manifest.json`` (open files, current image, task, which masks are
saved) and ``mask_<n>.npz`` (bit-packed HxW masks). Only masks changed since the last write are
written again, so calling ``save`` after every stroke stays cheap.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leaf_app.document.image_document import DocState, ModelStamp
from leaf_app.document.session import Session
from leaf_core.io.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass
class RecoveredMask:
    mask: np.ndarray
    state: DocState
    model: ModelStamp | None


@dataclass
class RecoveredSession:
    """What an autosave folder held: enough to reopen the files and put the masks back."""

    files: list[Path]
    current: int
    task_name: str | None
    masks: dict[Path, RecoveredMask] = field(default_factory=dict)


class AutosaveStore:
    """Writes and reads the autosave of one session in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._written: dict[int, int] = {}  # id(document) -> edit_count when last written

    def has_recovery(self) -> bool:
        return (self.folder / MANIFEST).exists()

    def save(self, session: Session) -> bool:
        """Write the unsaved masks of ``session``; returns True if anything is saved.

        With no unsaved edits the autosave is removed: there is nothing to recover.
        """
        unsaved = [(i, d) for i, d in enumerate(session.documents) if d.has_unsaved_edits and d.mask is not None]
        if not unsaved:
            self.clear()
            return False
        masks = {}
        for index, doc in unsaved:
            file_name = f"mask_{index}.npz"
            if self._written.get(id(doc)) != doc.edit_count or not (self.folder / file_name).exists():
                atomic_write_bytes(self.folder / file_name, _pack(doc.mask))  # type: ignore[arg-type]
                self._written[id(doc)] = doc.edit_count
            stamp = doc.prediction_model
            masks[str(index)] = {
                "file": file_name,
                "state": doc.state.name,
                "model": [stamp.name, stamp.version, stamp.project_version] if stamp else None,
            }
        manifest = {
            "version": 1,
            "files": [str(d.path.resolve()) for d in session.documents],
            "current": session.current_index,
            "task": session.task.name if session.task else None,
            "masks": masks,
        }
        atomic_write_text(self.folder / MANIFEST, json.dumps(manifest, indent=1))
        return True

    def load(self) -> RecoveredSession | None:
        """Read the autosave; None when there is none or it cannot be read (logged)."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
            files = [Path(p) for p in manifest["files"]]
            recovered = RecoveredSession(files, int(manifest.get("current", 0)), manifest.get("task"))
            for index, entry in manifest.get("masks", {}).items():
                mask = _unpack((self.folder / entry["file"]).read_bytes())
                model = ModelStamp(*entry["model"]) if entry.get("model") else None
                recovered.masks[files[int(index)]] = RecoveredMask(mask, DocState[entry["state"]], model)
            return recovered
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
            log.warning("the autosave in %s cannot be read (%s); it is ignored", self.folder, error)
            return None

    def clear(self) -> None:
        """Remove the autosave (after a clean exit or once recovered)."""
        self._written.clear()
        if not self.folder.is_dir():
            return
        (self.folder / MANIFEST).unlink(missing_ok=True)
        for path in self.folder.glob("mask_*.npz"):
            path.unlink(missing_ok=True)


def _pack(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, bits=np.packbits(mask.astype(bool)), shape=np.asarray(mask.shape))
    return buffer.getvalue()


def _unpack(data: bytes) -> np.ndarray:
    with np.load(io.BytesIO(data)) as archive:
        shape = tuple(int(v) for v in archive["shape"])
        bits = np.unpackbits(archive["bits"], count=shape[0] * shape[1])
    return bits.reshape(shape).astype(bool)
