"""Redaction boxes of one image, drawn over burned-in text, with undo and redo (no Qt).

Each step (a box added, all boxes cleared) is one undo step. The boxes are painted black in the
copy the project stores when the correction is saved (``CorrectionStore.save_correction``); the
image on screen and the file on disk are never changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from leaf_app.document.events import Event
from leaf_core.io.redaction import Box


class RedactionBoxes:
    """The boxes of one image. Event: ``changed()`` after every change, undo and redo included."""

    def __init__(self, boxes: Iterable[Box] = ()) -> None:
        self._boxes: tuple[Box, ...] = tuple(boxes)
        self._past: list[tuple[Box, ...]] = []
        self._future: list[tuple[Box, ...]] = []
        self.changed = Event()

    @property
    def boxes(self) -> tuple[Box, ...]:
        return self._boxes

    def __len__(self) -> int:
        return len(self._boxes)

    @property
    def can_undo(self) -> bool:
        return bool(self._past)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def add(self, box: Box) -> None:
        self._change((*self._boxes, box))

    def clear(self) -> None:
        if self._boxes:
            self._change(())

    def undo(self) -> bool:
        """Go back one step; False when there is nothing to undo."""
        return self._step(self._past, self._future)

    def redo(self) -> bool:
        """Apply again the last undone step; False when there is nothing to redo."""
        return self._step(self._future, self._past)

    def _step(self, source: list[tuple[Box, ...]], target: list[tuple[Box, ...]]) -> bool:
        if not source:
            return False
        target.append(self._boxes)
        self._boxes = source.pop()
        self.changed.emit()
        return True

    def _change(self, boxes: tuple[Box, ...]) -> None:
        self._past.append(self._boxes)
        self._future.clear()
        self._boxes = boxes
        self.changed.emit()
