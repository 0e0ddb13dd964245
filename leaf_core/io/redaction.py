"""Redaction boxes: rectangles of an image painted black to hide burned-in text.

Ultrasound, endoscopy and photographic images (and scanned documents) often carry the patient's
name, ID or birth date in their pixels. No header clean-up removes that: the user draws boxes
over the text, and the stored training copy has those rectangles painted black.
``needs_redaction_review`` says which images to ask about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from leaf_core.io.image_types import ImageMeta

# Modalities that usually carry burned-in text (PS3.3 C.7.3.1.1.1): ultrasound, endoscopy,
# external-camera photography, secondary capture (screenshots, scans) and "other".
BURNED_IN_TEXT_MODALITIES = frozenset({"US", "ES", "XC", "SC", "OT"})


@dataclass(frozen=True)
class Box:
    """A rectangle of image pixels, columns x0..x1-1 and rows y0..y1-1 (half-open), x0 < x1, y0 < y1."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.x0 >= self.x1 or self.y0 >= self.y1:
            raise ValueError(f"an empty redaction box: {self}")

    @classmethod
    def from_corners(cls, xa: float, ya: float, xb: float, yb: float) -> Box:
        """The box covering every pixel between two corner points (in any order), pixel centres at integers."""
        x0, x1 = sorted((xa, xb))
        y0, y1 = sorted((ya, yb))
        return cls(int(np.floor(x0 + 0.5)), int(np.floor(y0 + 0.5)), int(np.floor(x1 + 0.5)) + 1, int(np.floor(y1 + 0.5)) + 1)

    def clipped(self, height: int, width: int) -> Box | None:
        """This box inside an image of ``height`` x ``width``, or None when it lies outside."""
        x0, y0 = max(self.x0, 0), max(self.y0, 0)
        x1, y1 = min(self.x1, width), min(self.y1, height)
        return Box(x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


def boxes_from_lists(values: Iterable[Sequence[int]]) -> list[Box]:
    """Boxes from [x0, y0, x1, y1] lists (as the catalog records them)."""
    return [Box(*value) for value in values]


def paint_boxes(pixels: np.ndarray, boxes: Iterable[Box], value: float, has_channels: bool) -> int:
    """Paint ``boxes`` with ``value`` in place on every frame; return how many boxes touched the image.

    pixels: HxW or FxHxW (``has_channels`` False), HxWxC or FxHxWxC (``has_channels`` True).
    Boxes are clipped to the image.
    """
    spatial = pixels.shape[-3:-1] if has_channels else pixels.shape[-2:]
    painted = 0
    for box in boxes:
        inside = box.clipped(*spatial)
        if inside is None:
            continue
        rows, cols = slice(inside.y0, inside.y1), slice(inside.x0, inside.x1)
        if has_channels:
            pixels[..., rows, cols, :] = value
        else:
            pixels[..., rows, cols] = value
        painted += 1
    return painted


def needs_redaction_review(meta: ImageMeta) -> bool:
    """True when the image may show identifying text in its pixels that nothing has ruled out.

    That is every non-DICOM image (photos, screenshots, exported video frames) and DICOM of a
    modality that usually carries burned-in text (``BURNED_IN_TEXT_MODALITIES``) unless the file
    declares Burned In Annotation = NO. (YES is refused when the image is saved.)
    """
    if meta.source_format != "dicom":
        return True
    if (meta.modality or "").upper() not in BURNED_IN_TEXT_MODALITIES:
        return False
    return burned_in_annotation(meta.path) != "NO"


def burned_in_annotation(path: str | Path) -> str | None:
    """The Burned In Annotation value of a DICOM file ('YES', 'NO'), or None when it has none."""
    from leaf_core.io.dicom import read_dataset  # dicom imports the image layer, which must not import this

    value = read_dataset(path, stop_before_pixels=True).get("BurnedInAnnotation")
    return str(value).strip().upper() if value else None
