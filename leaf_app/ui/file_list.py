"""The list of open images with each one's state; selecting a row shows that image."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from leaf_app.document.image_document import DocState, ImageDocument
from leaf_app.document.session import Session

STATE_LOOK = {
    DocState.NOT_PREDICTED: ("○", "not yet predicted", QColor(150, 150, 150)),
    DocState.PREDICTED: ("◐", "predicted", QColor(90, 160, 255)),
    DocState.CORRECTED: ("●", "corrected, not saved", QColor(255, 170, 40)),
    DocState.SAVED: ("✓", "saved", QColor(80, 200, 100)),
}


def row_text(doc: ImageDocument) -> str:
    if doc.load_error:
        return f"⚠ {doc.name} — cannot be read"
    symbol, words, _ = STATE_LOOK[doc.state]
    score = f" · uncertainty {doc.uncertainty_score:.3f}" if doc.uncertainty_score is not None else ""
    return f"{symbol} {doc.name} — {words}{score}"


class FileList(QListWidget):
    """Binds to a Session both ways (signals blocked while the session moves the selection)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setMinimumWidth(300)
        # Rows as wide as the list, eliding in the middle, so the state and score at the end stay in
        # view (with a horizontal scroll bar the rows would be clipped at the right instead).
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        session.documents_added.connect(self._on_added)
        session.current_changed.connect(self._on_current_changed)
        self.currentRowChanged.connect(self._on_row_changed)

    def _on_added(self, docs: list[ImageDocument]) -> None:
        for doc in docs:
            self.addItem(QListWidgetItem(row_text(doc)))
            self.refresh(doc)
            doc.state_changed.connect(lambda _state, d=doc: self.refresh(d))

    def refresh(self, doc: ImageDocument) -> None:
        """Redraw the row of ``doc`` (its state or load error changed)."""
        row = self.session.documents.index(doc)
        item = self.item(row)
        if item is None:
            return
        text = row_text(doc)
        item.setText(text)
        item.setToolTip(f"{text}\n{doc.path}")  # the whole row, however narrow the list
        item.setForeground(QColor(230, 80, 80) if doc.load_error else STATE_LOOK[doc.state][2])

    def _on_current_changed(self, index: int) -> None:
        self.blockSignals(True)
        self.setCurrentRow(index)
        self.blockSignals(False)

    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.session.set_current(row)
