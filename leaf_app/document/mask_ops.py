"""Edits of a full-resolution mask (HxW bool) as plain functions.

Each edits ``mask`` in place and returns the BBox it touched (None when nothing could change),
so the caller can store undo atoms and redraw only that rectangle. Coordinates are image
pixels as (x, y) floats; pixel (col, row) has its centre at (col, row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.draw import polygon as polygon_pixels


@dataclass(frozen=True)
class BBox:
    """A rectangle of pixels, rows ``y0:y1`` and columns ``x0:x1`` (ends exclusive)."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def union(self, other: BBox | None) -> BBox:
        if other is None:
            return self
        return BBox(min(self.y0, other.y0), min(self.x0, other.x0), max(self.y1, other.y1), max(self.x1, other.x1))

    def grown(self, pixels: int, shape: tuple[int, int]) -> BBox:
        """This box grown by ``pixels`` on every side, clipped to an image of ``shape``."""
        return clip_bbox(self.y0 - pixels, self.x0 - pixels, self.y1 + pixels, self.x1 + pixels, shape)

    @classmethod
    def full(cls, shape: tuple[int, int]) -> BBox:
        return cls(0, 0, int(shape[0]), int(shape[1]))


def clip_bbox(y0: float, x0: float, y1: float, x1: float, shape: tuple[int, int]) -> BBox | None:
    """The integer box covering [y0, y1) x [x0, x1) inside ``shape``, or None if it is outside."""
    h, w = int(shape[0]), int(shape[1])
    box = BBox(max(0, int(np.floor(y0))), max(0, int(np.floor(x0))), min(h, int(np.ceil(y1))), min(w, int(np.ceil(x1))))
    if box.y1 <= box.y0 or box.x1 <= box.x0:
        return None
    return box


def changed_bbox(before: np.ndarray, after: np.ndarray) -> BBox | None:
    """The smallest box holding every pixel where ``before`` and ``after`` differ."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return BBox(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def segment_bbox(p0: tuple[float, float], p1: tuple[float, float], radius: float, shape: tuple[int, int]) -> BBox | None:
    """The box a brush of ``radius`` can touch moving from ``p0`` to ``p1`` (both (x, y))."""
    (xa, ya), (xb, yb) = p0, p1
    return clip_bbox(min(ya, yb) - radius, min(xa, xb) - radius, max(ya, yb) + radius + 1, max(xa, xb) + radius + 1, shape)


def paint_segment(
    mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float, value: bool = True
) -> BBox | None:
    """Paint (or, with ``value=False``, erase) every pixel within ``radius`` of the segment p0-p1.

    The brush is swept along the whole segment, so a fast drag that reports points far apart
    leaves a continuous stroke with no gaps. A zero-length segment is a round dab.
    """
    box = segment_bbox(p0, p1, radius, mask.shape)
    if box is None:
        return None
    ys = np.arange(box.y0, box.y1, dtype=np.float32)[:, None]
    xs = np.arange(box.x0, box.x1, dtype=np.float32)[None, :]
    (xa, ya), (xb, yb) = p0, p1
    dx, dy = xb - xa, yb - ya
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((xs - xa) * dx + (ys - ya) * dy) / length2, 0.0, 1.0)
    else:
        t = np.zeros((1, 1), dtype=np.float32)
    distance2 = (xs - (xa + t * dx)) ** 2 + (ys - (ya + t * dy)) ** 2
    # max(radius, 0.5) so a 1-pixel brush still covers the pixel under the cursor
    inside = distance2 <= max(radius, 0.5) ** 2
    mask[box.slices][inside] = value
    return box


def fill_polygon(mask: np.ndarray, points: Sequence[tuple[float, float]], value: bool = True) -> BBox | None:
    """Fill (or erase) the inside of the polygon through ``points`` ((x, y), closed implicitly)."""
    if len(points) < 3:
        return None
    xy = np.asarray(points, dtype=np.float64)
    rows, cols = polygon_pixels(xy[:, 1], xy[:, 0], shape=mask.shape)
    if rows.size == 0:
        return None
    mask[rows, cols] = value
    return BBox(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)


def fill_holes(mask: np.ndarray) -> BBox | None:
    """Fill every background region that does not touch the image border."""
    filled = ndimage.binary_fill_holes(mask)
    box = changed_bbox(mask, filled)
    if box is not None:
        mask[box.slices] = filled[box.slices]
    return box


def remove_small_islands(mask: np.ndarray, min_pixels: int) -> BBox | None:
    """Erase every connected foreground region (8-connected) smaller than ``min_pixels``."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())
    small = sizes < int(min_pixels)
    small[0] = False
    if not small.any():
        return None
    remove = small[labels]
    box = changed_bbox(np.zeros_like(remove), remove)
    mask[remove] = False
    return box


def clear(mask: np.ndarray) -> BBox | None:
    """Erase the whole mask."""
    box = changed_bbox(np.zeros_like(mask), mask)
    if box is not None:
        mask[box.slices] = False
    return box
