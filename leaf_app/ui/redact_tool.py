"""The Redact tool: boxes drawn over burned-in text, shown black, painted into the saved copy.

Tools ▸ Redact burned-in text (R): drag a box over a name, an ID or a date in the pixels; it is
shown as a black box at once. Tools ▸ Undo / Redo redaction box (Ctrl+Alt+Z, Ctrl+Alt+Shift+Z)
and Clear redaction boxes edit the boxes of the current image (``RedactionBoxes``, one per
image). The image and its file are never changed: the boxes are painted black in the copy the
project keeps, when the correction is saved (``boxes_to_save``). The first time, in a project,
that an image likely to carry burned-in text (``needs_redaction_review``) is saved without
boxes, a warning asks whether to save it so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QMessageBox, QToolBar, QWidget

from leaf_app.document.image_document import ImageDocument
from leaf_app.document.redaction import RedactionBoxes
from leaf_app.ui.actions import guarded
from leaf_app.ui.canvas import Tool
from leaf_app.ui.dialogs import TITLE
from leaf_core.errors import LeafError
from leaf_core.io.redaction import Box, needs_redaction_review

if TYPE_CHECKING:
    from leaf_core.project.store import CorrectionStore

    from leaf_app.ui.main_window import MainWindow

BOX_Z = 5  # above the image, the mask and the uncertainty layers
WARNING = (
    "'{name}' may show the patient's name, ID or birth date in its pixels (ultrasound, endoscopy "
    "and photographs often do).\n\nThe project keeps a copy of the image for training. Draw boxes "
    "over any such text with Tools ▸ Redact burned-in text (R) and they are painted black in that "
    "copy.\n\nSave it without redaction boxes? (This is asked once per project.)"
)


class RedactTool(QObject):
    """The Redact tool of ``window`` and the redaction boxes of each open image."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._boxes: dict[Path, RedactionBoxes] = {}
        self._items: list[QGraphicsRectItem] = []
        self._start: QPointF | None = None
        self._rubber_band = QGraphicsRectItem()
        self._rubber_band.setPen(QPen(QColor(255, 220, 0), 0, Qt.PenStyle.DashLine))
        self._rubber_band.setBrush(QBrush(QColor(0, 0, 0, 160)))
        self._rubber_band.setZValue(BOX_Z + 1)

        self.actions = {
            "redact": self._action("Re&dact burned-in text", ("R",), self.use, checkable=True),
            "undo_box": self._action("Undo redaction box", ("Ctrl+Alt+Z",), self.undo),
            "redo_box": self._action("Redo redaction box", ("Ctrl+Alt+Shift+Z",), self.redo),
            "clear_boxes": self._action("Clear redaction boxes", (), self.clear),
        }
        window.actions["tool_brush"].actionGroup().addAction(self.actions["redact"])  # one tool at a time
        menu = window.menus["tools"]
        entries = menu.actions()
        menu.insertAction(entries[entries.index(window.actions["tool_pan"]) + 1], self.actions["redact"])
        menu.addSeparator()
        for name in ("undo_box", "redo_box", "clear_boxes"):
            menu.addAction(self.actions[name])
        toolbar = window.findChild(QToolBar, "tools")
        if toolbar is not None:
            toolbar.insertAction(window.actions["undo"], self.actions["redact"])
        self.actions["redact"].toggled.connect(self._on_toggled)
        window.canvas.viewport().installEventFilter(self)
        window.session.current_changed.connect(lambda _index: self.show_boxes())

    def _action(self, text: str, shortcuts: tuple[str, ...], method, checkable: bool = False) -> QAction:  # noqa: ANN001
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setCheckable(checkable)
        action.triggered.connect(guarded(self.window, method))
        self.window.addAction(action)
        return action

    # --- the boxes of an image ----------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.actions["redact"].isChecked()

    def boxes_of(self, doc: ImageDocument) -> RedactionBoxes:
        """The boxes of ``doc``; the first time, those of its latest saved correction in the project."""
        boxes = self._boxes.get(doc.path)
        if boxes is None:
            boxes = self._boxes[doc.path] = RedactionBoxes(self._saved_boxes(doc))
            boxes.changed.connect(self.show_boxes)
        return boxes

    def _saved_boxes(self, doc: ImageDocument) -> tuple[Box, ...]:
        store = self.window.project.store
        if store is None or doc.load_error:
            return ()
        try:
            record = store.latest_correction(store.image_key_for(doc.path, doc.store_frame))
        except LeafError:  # the file went away since it was opened: no saved boxes to show
            return ()
        return () if record is None else record.redactions

    def boxes_to_save(self, doc: ImageDocument, store: CorrectionStore) -> list[Box] | None:
        """The boxes to paint into the copy saved now, or None when the user chose not to save.

        Warns once per project when an image that may show burned-in text has no boxes.
        """
        boxes = list(self.boxes_of(doc).boxes)
        if boxes or store.redaction_warning_shown or doc.image is None or not needs_redaction_review(doc.image.meta):
            return boxes
        save = confirm_save_without_boxes(self.window, doc.name)
        store.mark_redaction_warning_shown()
        return boxes if save else None

    # --- actions ---------------------------------------------------------------------------------
    def use(self) -> None:
        self.actions["redact"].setChecked(True)

    def undo(self) -> None:
        doc = self._current()
        if doc is not None:
            self.boxes_of(doc).undo()

    def redo(self) -> None:
        doc = self._current()
        if doc is not None:
            self.boxes_of(doc).redo()

    def clear(self) -> None:
        doc = self._current()
        if doc is not None:
            self.boxes_of(doc).clear()

    def _on_toggled(self, checked: bool) -> None:
        if checked:
            self.window.canvas.set_tool(Tool.PAN)  # no brush cursor; left drags are ours (eventFilter)
            self.window.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)
            self.window.statusBar().showMessage("Redact: drag a box over burned-in text; it is painted black "
                                                "in the copy saved into the project.", 8000)

    def _current(self) -> ImageDocument | None:
        doc = self.window.current
        return doc if doc is not None and doc.is_loaded else None

    # --- drawing -----------------------------------------------------------------------------------
    def show_boxes(self) -> None:
        """Draw the current image's boxes as black rectangles on the canvas."""
        scene = self.window.canvas.scene()
        for item in self._items:
            if item.scene() is scene:
                scene.removeItem(item)
        self._items = []
        doc = self._current()
        if doc is None or self.window.canvas.document is not doc:
            return
        for box in self.boxes_of(doc).boxes:
            item = QGraphicsRectItem(QRectF(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0))
            item.setBrush(QBrush(QColor(0, 0, 0)))
            item.setPen(QPen(Qt.PenStyle.NoPen))
            item.setZValue(BOX_Z)
            scene.addItem(item)
            self._items.append(item)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        """While the tool is active, left-button drags on the canvas draw a box."""
        kind = event.type()
        if not self.active or kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                                           QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        doc = self._current()
        left = event.button() == Qt.MouseButton.LeftButton or (
            kind == QEvent.Type.MouseMove and event.buttons() & Qt.MouseButton.LeftButton)
        if doc is None or not left:
            # other buttons pan and window as with every tool; a plain move shows the cross
            return kind == QEvent.Type.MouseMove and event.buttons() == Qt.MouseButton.NoButton
        x, y = self.window.canvas.image_point(event.position())
        if kind == QEvent.Type.MouseButtonPress:
            self._start = QPointF(x, y)
            self._update_rubber_band(x, y)
        elif self._start is not None:
            self._update_rubber_band(x, y)
            if kind == QEvent.Type.MouseButtonRelease:
                start, self._start = self._start, None
                scene = self._rubber_band.scene()
                if scene is not None:
                    scene.removeItem(self._rubber_band)
                self._add_box(doc, start, x, y)
        return True

    def _update_rubber_band(self, x: float, y: float) -> None:
        assert self._start is not None
        box = Box.from_corners(self._start.x(), self._start.y(), x, y)
        self._rubber_band.setRect(QRectF(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0))
        scene = self.window.canvas.scene()
        if self._rubber_band.scene() is not scene:
            scene.addItem(self._rubber_band)

    def _add_box(self, doc: ImageDocument, start: QPointF, x: float, y: float) -> None:
        height, width = doc.shape
        box = Box.from_corners(start.x(), start.y(), x, y).clipped(height, width)
        if box is not None:
            self.boxes_of(doc).add(box)
            count = len(self.boxes_of(doc))
            self.window.statusBar().showMessage(f"{count} redaction box(es) on '{doc.name}'", 5000)


def confirm_save_without_boxes(parent: QWidget, name: str) -> bool:
    """The once-per-project warning: True when the user saves the image without redaction boxes."""
    answer = QMessageBox.warning(
        parent, TITLE, WARNING.format(name=name),
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Save

