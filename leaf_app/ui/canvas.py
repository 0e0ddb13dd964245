"""The canvas: the image, the mask overlay and the tools that edit it.

A QGraphicsView whose scene holds one item per layer, one scene unit per image pixel, so
zoom and pan are the view's transform and every edit stays at the image's full resolution.
A brush step redraws only the rectangle it touched (see ``layers``).
"""

from __future__ import annotations

import enum
import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView, QWidget

from leaf_app.document import mask_ops
from leaf_app.document.image_document import ImageDocument
from leaf_app.document.mask_ops import BBox
from leaf_app.ui.layers import BufferLayer, OverlayMode, render_heatmap, render_mask, rgb_to_bgra

MIN_BRUSH, MAX_BRUSH = 1, 500
ZOOM_STEP = 1.25


class Tool(enum.Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    LASSO_FILL = "lasso fill"
    LASSO_ERASE = "lasso erase"
    PAN = "pan"


class _Drag(enum.Enum):
    NONE = 0
    STROKE = 1
    LASSO = 2
    PAN = 3
    WINDOW = 4


class Canvas(QGraphicsView):
    """Shows one ImageDocument and turns mouse drags into edits of its mask."""

    edited = Signal()  # a stroke or region edit finished (one undo step)
    window_changed = Signal(float, float)  # center, width
    zoom_changed = Signal(float)
    brush_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(30, 30, 30))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.viewport().setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.document: ImageDocument | None = None
        self.tool = Tool.BRUSH
        self.brush_radius = 12
        self.overlay_mode = OverlayMode.FILL
        self.overlay_opacity = 0.5
        self.image_layer: BufferLayer | None = None
        self.mask_layer: BufferLayer | None = None
        self.uncertainty_layer: BufferLayer | None = None
        self.uncertainty_visible = False
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setPen(QPen(QColor(255, 255, 255), 0))
        self._cursor.setZValue(10)
        self._lasso_item = QGraphicsPathItem()
        self._lasso_item.setPen(QPen(QColor(255, 220, 0), 0, Qt.PenStyle.DashLine))
        self._lasso_item.setBrush(QBrush(QColor(255, 220, 0, 50)))
        self._lasso_item.setZValue(9)
        self._drag = _Drag.NONE
        self._lasso_points: list[tuple[float, float]] = []
        self._drag_origin = QPointF()
        self._window_origin = (0.0, 1.0)
        self._pending_window: tuple[float, float] | None = None
        self._window_timer = QTimer(self, singleShot=True, interval=15)
        self._window_timer.timeout.connect(self._apply_pending_window)

    # --- binding a document ----------------------------------------------------------------
    def set_document(self, doc: ImageDocument | None) -> None:
        """Show ``doc`` (loaded) or nothing; rebuilds the layers."""
        if self.document is not None:
            if self.document.stroke_active:
                self.document.end_stroke()
            self.document.mask_changed.disconnect(self._on_mask_changed)
        self.document = doc
        scene = self.scene()
        for item in list(scene.items()):
            scene.removeItem(item)
        self.image_layer = self.mask_layer = self.uncertainty_layer = None
        if doc is None or not doc.is_loaded:
            return
        height, width = doc.shape
        self.image_layer = BufferLayer(height, width, QImage.Format.Format_RGB32)
        self.mask_layer = BufferLayer(height, width, QImage.Format.Format_ARGB32_Premultiplied)
        self.mask_layer.setZValue(1)
        self.uncertainty_layer = BufferLayer(height, width, QImage.Format.Format_ARGB32_Premultiplied)
        self.uncertainty_layer.setZValue(2)
        for item in (self.image_layer, self.mask_layer, self.uncertainty_layer, self._cursor, self._lasso_item):
            scene.addItem(item)
        scene.setSceneRect(QRectF(0, 0, width, height))
        self._lasso_item.setPath(QPainterPath())
        self._render_image()
        self.refresh_mask()
        self.refresh_uncertainty()
        self._apply_overlay_look()
        self._update_cursor_item(None)
        doc.mask_changed.connect(self._on_mask_changed)
        self.fit_to_window()

    def displayed_rgb(self) -> np.ndarray:
        """The image as shown now (HxWx3 uint8 RGB, after window/level)."""
        assert self.image_layer is not None
        return self.image_layer.buffer[..., 2::-1].copy()

    def _render_image(self) -> None:
        doc = self.document
        if doc is None or self.image_layer is None:
            return
        if doc.is_grey and doc.window is not None:
            rgb = doc.image.render(doc.window[0], doc.window[1])  # type: ignore[union-attr]
        else:
            rgb = doc.image.rgb  # type: ignore[union-attr]
        rgb_to_bgra(rgb, self.image_layer.buffer)
        self.image_layer.refresh()

    def refresh_mask(self, box: BBox | None = None) -> None:
        """Redraw the overlay in ``box`` (or all of it) from the document's mask."""
        doc = self.document
        if doc is None or self.mask_layer is None or doc.mask is None:
            return
        box = box or BBox.full(doc.mask.shape)
        drawn = render_mask(doc.mask, box, self._render_mode(), self.mask_layer.buffer)
        self.mask_layer.refresh(drawn)

    def refresh_uncertainty(self) -> None:
        doc = self.document
        if doc is None or self.uncertainty_layer is None:
            return
        if doc.uncertainty is not None:
            render_heatmap(doc.uncertainty, self.uncertainty_layer.buffer)
        else:
            self.uncertainty_layer.buffer[...] = 0
        self.uncertainty_layer.setVisible(self.uncertainty_visible and doc.uncertainty is not None)
        self.uncertainty_layer.refresh()

    def _on_mask_changed(self, box: BBox) -> None:
        self.refresh_mask(box)

    def _render_mode(self) -> OverlayMode:
        return OverlayMode.OUTLINE if self.overlay_mode is OverlayMode.OUTLINE else OverlayMode.FILL

    # --- overlay look -----------------------------------------------------------------------
    def set_overlay_mode(self, mode: OverlayMode) -> None:
        previous = self._render_mode()
        self.overlay_mode = mode
        if self._render_mode() is not previous:
            self.refresh_mask()
        self._apply_overlay_look()

    def set_overlay_opacity(self, opacity: float) -> None:
        self.overlay_opacity = float(min(1.0, max(0.0, opacity)))
        self._apply_overlay_look()

    def set_uncertainty_visible(self, visible: bool) -> None:
        self.uncertainty_visible = visible
        self.refresh_uncertainty()

    def _apply_overlay_look(self) -> None:
        if self.mask_layer is None:
            return
        self.mask_layer.setVisible(self.overlay_mode is not OverlayMode.HIDDEN)
        # the opacity is the item's, so changing it never re-renders the buffer
        self.mask_layer.setOpacity(1.0 if self.overlay_mode is OverlayMode.OUTLINE else self.overlay_opacity)

    # --- window / level -------------------------------------------------------------------------
    def set_window(self, center: float, width: float) -> None:
        doc = self.document
        if doc is None or not doc.is_grey:
            return
        doc.window = (float(center), max(1.0, float(width)))
        self._render_image()
        self.window_changed.emit(*doc.window)

    def _apply_pending_window(self) -> None:
        if self._pending_window is not None:
            self.set_window(*self._pending_window)
            self._pending_window = None

    # --- zoom and pan -------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def fit_to_window(self) -> None:
        if self.image_layer is None:
            return
        self.fitInView(self.image_layer.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def zoom_actual(self) -> None:
        """One screen pixel per image pixel."""
        self.resetTransform()
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        new_zoom = self.zoom * factor
        if 0.01 <= new_zoom <= 64:
            self.scale(factor, factor)
            self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps)
        event.accept()

    # --- tools --------------------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self._update_cursor_item(None)

    def set_brush_radius(self, radius: int) -> None:
        radius = int(min(MAX_BRUSH, max(MIN_BRUSH, radius)))
        if radius != self.brush_radius:
            self.brush_radius = radius
            self._cursor.setRect(self._cursor_rect(self._cursor.rect().center()))
            self.brush_changed.emit(radius)

    def grow_brush(self) -> None:
        self.set_brush_radius(max(self.brush_radius + 1, round(self.brush_radius * 1.25)))

    def shrink_brush(self) -> None:
        self.set_brush_radius(min(self.brush_radius - 1, round(self.brush_radius / 1.25)))

    def _cursor_rect(self, centre: QPointF) -> QRectF:
        r = self.brush_radius
        return QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r)

    def _update_cursor_item(self, scene_pos: QPointF | None) -> None:
        painting = self.tool in (Tool.BRUSH, Tool.ERASER) and self.document is not None
        self._cursor.setVisible(painting and scene_pos is not None)
        if scene_pos is not None:
            self._cursor.setRect(self._cursor_rect(scene_pos))
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if self.tool is not Tool.PAN else Qt.CursorShape.OpenHandCursor)

    def image_point(self, view_pos: QPointF) -> tuple[float, float]:
        """Image pixel coordinates (x, y) under a viewport position; pixel centres are integers."""
        scene = self.mapToScene(view_pos.toPoint())
        return scene.x() - 0.5, scene.y() - 0.5

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        doc = self.document
        if doc is None or doc.mask is None:
            return super().mousePressEvent(event)
        self._drag_origin = event.position()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self.tool is Tool.PAN):
            self._drag = _Drag.PAN
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.RightButton:
            if doc.is_grey and doc.window is not None:
                self._drag = _Drag.WINDOW
                self._window_origin = doc.window
        elif button == Qt.MouseButton.LeftButton:
            x, y = self.image_point(event.position())
            if self.tool in (Tool.BRUSH, Tool.ERASER):
                self._drag = _Drag.STROKE
                doc.begin_stroke(x, y, self.brush_radius, value=self.tool is Tool.BRUSH)
            elif self.tool in (Tool.LASSO_FILL, Tool.LASSO_ERASE):
                self._drag = _Drag.LASSO
                self._lasso_points = [(x, y)]
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        doc = self.document
        scene_pos = self.mapToScene(event.position().toPoint())
        self._update_cursor_item(scene_pos)
        if doc is None or self._drag is _Drag.NONE:
            return super().mouseMoveEvent(event)
        if self._drag is _Drag.STROKE:
            doc.stroke_to(*self.image_point(event.position()))
        elif self._drag is _Drag.LASSO:
            self._lasso_points.append(self.image_point(event.position()))
            path = QPainterPath()
            path.moveTo(*(c + 0.5 for c in self._lasso_points[0]))
            for x, y in self._lasso_points[1:]:
                path.lineTo(x + 0.5, y + 0.5)
            path.closeSubpath()
            self._lasso_item.setPath(path)
        elif self._drag is _Drag.PAN:
            delta = event.position() - self._drag_origin
            self._drag_origin = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
        elif self._drag is _Drag.WINDOW:
            delta = event.position() - self._drag_origin
            center, width = self._window_origin
            # right: wider window (less contrast); down: higher level (darker), as in PACS viewers
            step = max(width, 1.0) / 200.0
            self._pending_window = (center + delta.y() * step, max(1.0, width * math.exp(delta.x() / 200.0)))
            if not self._window_timer.isActive():
                self._window_timer.start()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        doc = self.document
        drag, self._drag = self._drag, _Drag.NONE
        if doc is None or drag is _Drag.NONE:
            return super().mouseReleaseEvent(event)
        if drag is _Drag.STROKE:
            doc.stroke_to(*self.image_point(event.position()))
            doc.end_stroke()
            self.edited.emit()
        elif drag is _Drag.LASSO:
            points, self._lasso_points = self._lasso_points, []
            self._lasso_item.setPath(QPainterPath())
            if doc.apply(mask_ops.fill_polygon, points, self.tool is Tool.LASSO_FILL) is not None:
                self.edited.emit()
        elif drag is _Drag.WINDOW:
            self._window_timer.stop()
            self._apply_pending_window()
        self._update_cursor_item(self.mapToScene(event.position().toPoint()))
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: N802, ANN001
        self._cursor.setVisible(False)
        super().leaveEvent(event)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.fillRect(rect, self.backgroundBrush())
