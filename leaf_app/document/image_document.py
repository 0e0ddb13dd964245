"""One open image: its pixels, its full-resolution mask, how the mask came to be, and its history."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leaf_app.document.events import Event
from leaf_app.document.history import EditAtom, History
from leaf_app.document.mask_ops import BBox, changed_bbox, paint_segment, segment_bbox
from leaf_core.metrics import dice_score


class DocState(enum.Enum):
    """Where an image stands, as the file list shows it."""

    NOT_PREDICTED = "not yet predicted"
    PREDICTED = "predicted"
    CORRECTED = "corrected"  # edited since the last prediction or save: unsaved work
    SAVED = "saved"


@dataclass(frozen=True)
class ModelStamp:
    """Which model made a prediction.

    ``version`` is the model card's; ``project_version`` ("v2") is set when the model folder is a
    version of a project, whose fine-tunes keep the card's version, so it names the model better.
    """

    name: str
    version: str
    project_version: str | None = None
    engine: str = field(default="", compare=False)  # an engine that ran it, "OpenVINO int8" (shown, not stored)

    def __str__(self) -> str:
        return f"{self.name} {self.project_version or self.version}"

    def with_engine(self) -> str:
        """What the status bar says: the model and what ran it."""
        return f"{self} · {self.engine}" if self.engine else str(self)


@dataclass
class _StrokeState:
    value: bool
    radius: float
    last_point: tuple[float, float] | None = None
    bbox: BBox | None = None
    # (box, pixels before the segment painted there), in the order they were painted
    pieces: list[tuple[BBox, np.ndarray]] | None = None


class ImageDocument:
    """An image with its mask (HxW bool at the image's full resolution) and undo history.

    Events: ``mask_changed(bbox)`` after any edit (redraw that rectangle only),
    ``state_changed(state)`` and ``image_loaded()``.
    """

    def __init__(self, path: str | Path, history_steps: int = 200) -> None:
        self.path = Path(path)
        self.image: Any | None = None  # leaf_core.io.images.LoadedImage once loaded
        self.load_error: str | None = None
        self.mask: np.ndarray | None = None
        self.predicted_mask: np.ndarray | None = None  # what the model said, for Dice-of-change
        self.probability: np.ndarray | None = None
        self.uncertainty: np.ndarray | None = None
        self.uncertainty_score: float | None = None  # mean of ``uncertainty`` ("Next image to correct")
        self.uncertainty_model: Path | None = None  # the model folder that computed it
        self.prediction_model: ModelStamp | None = None
        self.window: tuple[float, float] | None = None  # (center, width) for grey images
        self.history = History(max_steps=history_steps)
        self.edit_count = 0  # grows on every change of the mask (autosave compares it)
        self._state = DocState.NOT_PREDICTED
        self._stroke: _StrokeState | None = None
        self.mask_changed = Event()
        self.state_changed = Event()
        self.image_loaded = Event()

    # --- image -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_loaded(self) -> bool:
        return self.image is not None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the image; load it first."""
        if self.image is None:
            raise RuntimeError(f"{self.name} is not loaded; call set_image first")
        return tuple(self.image.rgb.shape[:2])  # type: ignore[return-value]

    def set_image(self, image: Any) -> None:
        """Attach a loaded image (LoadedImage); the mask starts empty unless one is set."""
        self.image = image
        self.load_error = None
        height, width = image.rgb.shape[:2]
        if self.mask is None or self.mask.shape != (height, width):
            self.mask = np.zeros((height, width), dtype=bool)
        if self.window is None and getattr(image, "default_window", None) is not None:
            self.window = tuple(float(v) for v in image.default_window)  # type: ignore[assignment]
        self.image_loaded.emit()

    @property
    def store_frame(self) -> int | None:
        """The frame as the corrections store keys it: only a multi-frame file has one."""
        meta = self.image.meta if self.image is not None else None
        return meta.frame if meta is not None and (meta.number_of_frames or 1) > 1 else None

    @property
    def is_grey(self) -> bool:
        """True when the image has modality values that can be re-windowed."""
        return self.image is not None and getattr(self.image, "intensity", None) is not None

    # --- state -------------------------------------------------------------------------
    @property
    def state(self) -> DocState:
        return self._state

    def _set_state(self, state: DocState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state)

    @property
    def has_unsaved_edits(self) -> bool:
        return self._state is DocState.CORRECTED

    def mark_saved(self) -> None:
        """The mask was written somewhere safe (export or the corrections store)."""
        self._set_state(DocState.SAVED)

    def set_prediction(
        self,
        mask: np.ndarray,
        model: ModelStamp,
        probability: np.ndarray | None = None,
    ) -> None:
        """Replace the mask with a model's prediction (HxW bool at image size); clears history."""
        self._require_mask()
        if mask.shape != self.mask.shape:  # type: ignore[union-attr]
            raise ValueError(f"prediction is {mask.shape}, image is {self.mask.shape}")  # type: ignore[union-attr]
        self.mask = mask.astype(bool, copy=True)
        self.predicted_mask = self.mask.copy()
        self.probability = probability
        self.prediction_model = model
        self.history.clear()
        self.edit_count += 1
        self._set_state(DocState.PREDICTED)
        self.mask_changed.emit(BBox.full(self.mask.shape))

    def restore_mask(self, mask: np.ndarray, state: DocState, model: ModelStamp | None = None) -> None:
        """Put back a mask recovered from autosave (no history)."""
        self._require_mask()
        self.mask = mask.astype(bool, copy=True)
        self.prediction_model = model
        self.history.clear()
        self.edit_count += 1
        self._set_state(state)
        self.mask_changed.emit(BBox.full(self.mask.shape))

    def dice_of_change(self) -> float | None:
        """Dice between the model's prediction and the mask now (1.0: nothing was changed)."""
        if self.predicted_mask is None or self.mask is None:
            return None
        return dice_score(self.predicted_mask, self.mask)

    # --- brush strokes: one undo atom per stroke ------------------------------------------
    def begin_stroke(self, x: float, y: float, radius: float, value: bool = True) -> BBox | None:
        """Start a brush (``value=True``) or eraser stroke with a dab at (x, y)."""
        self._require_mask()
        if self._stroke is not None:
            self.end_stroke()
        self._stroke = _StrokeState(value=value, radius=float(radius), pieces=[])
        return self.stroke_to(x, y)

    def stroke_to(self, x: float, y: float) -> BBox | None:
        """Continue the stroke to (x, y), sweeping the brush from the last point (no gaps)."""
        stroke = self._stroke
        if stroke is None:
            raise RuntimeError("stroke_to called without begin_stroke")
        start = stroke.last_point if stroke.last_point is not None else (x, y)
        stroke.last_point = (x, y)
        box = segment_bbox(start, (x, y), stroke.radius, self.mask.shape)  # type: ignore[union-attr]
        if box is None:
            return None
        stroke.pieces.append((box, self.mask[box.slices].copy()))  # type: ignore[union-attr, index]
        paint_segment(self.mask, start, (x, y), stroke.radius, stroke.value)  # type: ignore[arg-type]
        stroke.bbox = box.union(stroke.bbox)
        self.edit_count += 1
        self.mask_changed.emit(box)
        return box

    def end_stroke(self) -> EditAtom | None:
        """Finish the stroke and record it as one undo step."""
        stroke, self._stroke = self._stroke, None
        if stroke is None or stroke.bbox is None:
            return None
        box = stroke.bbox
        old = self.mask[box.slices].copy()  # type: ignore[index]
        # Unwind the pieces newest first to rebuild what the box held before the stroke.
        for piece_box, piece_old in reversed(stroke.pieces or []):
            old[piece_box.y0 - box.y0 : piece_box.y1 - box.y0, piece_box.x0 - box.x0 : piece_box.x1 - box.x0] = piece_old
        return self._record(box, old)

    @property
    def stroke_active(self) -> bool:
        return self._stroke is not None

    # --- whole-region edits --------------------------------------------------------------
    def apply(self, operation: Callable[..., BBox | None], *args: Any) -> BBox | None:
        """Run a mask operation (``mask_ops.fill_polygon``, ``fill_holes``, ...) as one undo step."""
        self._require_mask()
        if self._stroke is not None:
            self.end_stroke()
        before = self.mask.copy()  # type: ignore[union-attr]
        box = operation(self.mask, *args)
        if box is None:
            return None
        self.edit_count += 1
        self.mask_changed.emit(box)
        self._record(box, before[box.slices].copy())
        return box

    def _record(self, box: BBox, old: np.ndarray) -> EditAtom | None:
        new = self.mask[box.slices].copy()  # type: ignore[index]
        if np.array_equal(old, new):
            return None
        # Keep only the rows and columns that changed, so atoms stay small.
        tight = changed_bbox(old, new)
        assert tight is not None
        inner = tight.slices
        atom = EditAtom(
            BBox(box.y0 + tight.y0, box.x0 + tight.x0, box.y0 + tight.y1, box.x0 + tight.x1),
            old[inner].copy(),
            new[inner].copy(),
        )
        self.history.push(atom)
        self._set_state(DocState.CORRECTED)
        return atom

    def undo(self) -> BBox | None:
        if self._stroke is not None:
            self.end_stroke()
        box = self.history.undo(self.mask)  # type: ignore[arg-type]
        return self._after_history(box)

    def redo(self) -> BBox | None:
        box = self.history.redo(self.mask)  # type: ignore[arg-type]
        return self._after_history(box)

    def _after_history(self, box: BBox | None) -> BBox | None:
        if box is not None:
            self.edit_count += 1
            self._set_state(DocState.CORRECTED)
            self.mask_changed.emit(box)
        return box

    def _require_mask(self) -> None:
        if self.mask is None:
            raise RuntimeError(f"{self.name} is not loaded; call set_image first")
