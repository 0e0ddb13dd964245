"""Undo history of a mask: small atoms (a bounding box with its old and new values).

One atom per user action (a whole brush stroke is one atom), so undo steps match what the
user did. The history keeps up to ``max_steps`` atoms and drops the oldest past ``max_bytes``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from leaf_app.document.mask_ops import BBox


@dataclass(frozen=True)
class EditAtom:
    """The pixels in ``bbox`` before (``old``) and after (``new``) one edit."""

    bbox: BBox
    old: np.ndarray
    new: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.old.nbytes + self.new.nbytes)


class History:
    """Undo and redo stacks of EditAtoms for one mask."""

    def __init__(self, max_steps: int = 200, max_bytes: int = 512 * 2**20) -> None:
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: deque[EditAtom] = deque()
        self._redo: list[EditAtom] = []
        self._bytes = 0

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def __len__(self) -> int:
        return len(self._undo)

    def push(self, atom: EditAtom) -> None:
        """Record a new edit; it clears what could be redone."""
        self._undo.append(atom)
        self._bytes += atom.nbytes
        self._redo.clear()
        while self._undo and (len(self._undo) > self.max_steps or self._bytes > self.max_bytes):
            self._bytes -= self._undo.popleft().nbytes

    def undo(self, mask: np.ndarray) -> BBox | None:
        """Put back the old values of the last edit; returns the box it touched."""
        if not self._undo:
            return None
        atom = self._undo.pop()
        self._bytes -= atom.nbytes
        mask[atom.bbox.slices] = atom.old
        self._redo.append(atom)
        return atom.bbox

    def redo(self, mask: np.ndarray) -> BBox | None:
        """Apply again the last undone edit; returns the box it touched."""
        if not self._redo:
            return None
        atom = self._redo.pop()
        mask[atom.bbox.slices] = atom.new
        self._undo.append(atom)
        self._bytes += atom.nbytes
        return atom.bbox

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0
