"""Scene items that draw a numpy buffer, and the functions that fill those buffers.

Each layer owns an HxWx4 uint8 buffer (BGRA in memory, Qt's ARGB32 on little-endian machines)
wrapped by a QImage without copying. Edits rewrite only the rectangle they touched and ask
the scene to repaint only that rectangle; ``paint`` draws only the exposed part.
"""

from __future__ import annotations

import enum

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from leaf_app.document.mask_ops import BBox

MASK_COLOUR_BGR = (80, 230, 40)  # a green-yellow that reads on red mucosa, fundus and skin


class OverlayMode(enum.Enum):
    FILL = "fill"
    OUTLINE = "outline"
    HIDDEN = "hidden"


class BufferLayer(QGraphicsItem):
    """A QGraphicsItem showing an HxWx4 BGRA buffer at one scene unit per image pixel."""

    def __init__(self, height: int, width: int, image_format: QImage.Format) -> None:
        super().__init__()
        self.buffer = np.zeros((height, width, 4), dtype=np.uint8)
        self.qimage = QImage(self.buffer.data, width, height, 4 * width, image_format)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    @property
    def height(self) -> int:
        return self.buffer.shape[0]

    @property
    def width(self) -> int:
        return self.buffer.shape[1]

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        return QRectF(0, 0, self.width, self.height)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        if exposed.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(exposed, self.qimage, exposed)

    def refresh(self, box: BBox | None = None) -> None:
        """Ask for a repaint of ``box`` (image pixels), or of everything."""
        if box is None:
            self.update()
        else:
            self.update(QRectF(box.x0, box.y0, box.width, box.height))


def rgb_to_bgra(rgb: np.ndarray, out: np.ndarray) -> None:
    """Copy an HxWx3 uint8 RGB image into an HxWx4 BGRA buffer (opaque)."""
    out[..., 0] = rgb[..., 2]
    out[..., 1] = rgb[..., 1]
    out[..., 2] = rgb[..., 0]
    out[..., 3] = 255


def render_mask(mask: np.ndarray, box: BBox, mode: OverlayMode, out: np.ndarray) -> BBox:
    """Draw ``mask`` inside ``box`` into the premultiplied BGRA ``out``; returns the box redrawn.

    In outline mode the box grows by a pixel, since an edit changes the outline next to it.
    """
    if mode is OverlayMode.OUTLINE:
        box = box.grown(1, mask.shape)
        padded = box.grown(1, mask.shape)
        region = mask[padded.slices]
        # a pixel is on the outline when it is inside and a 4-neighbour is outside (or off-image)
        edge = np.pad(region, 1, mode="constant", constant_values=False)
        interior = edge[1:-1, 1:-1] & edge[:-2, 1:-1] & edge[2:, 1:-1] & edge[1:-1, :-2] & edge[1:-1, 2:]
        outline = region & ~interior
        shown = outline[box.y0 - padded.y0 : box.y1 - padded.y0, box.x0 - padded.x0 : box.x1 - padded.x0]
    else:
        shown = mask[box.slices]
    target = out[box.slices]
    target[...] = 0
    target[shown] = (*MASK_COLOUR_BGR, 255)
    return box


def render_heatmap(values: np.ndarray, out: np.ndarray) -> None:
    """Draw HxW values in [0, 1] as a translucent orange-to-red heat map (premultiplied BGRA).

    Low values are transparent, so only the places where the model is unsure stand out.
    """
    v = np.clip(values.astype(np.float32), 0.0, 1.0)
    alpha = np.clip(v * 2.0, 0.0, 1.0) * 220.0
    out[..., 3] = alpha.astype(np.uint8)
    out[..., 2] = (alpha * 1.0).astype(np.uint8)  # red
    out[..., 1] = (alpha * (1.0 - v) * 0.8).astype(np.uint8)  # green fades as v grows
    out[..., 0] = 0
