"""File ▸ Export mask… and Export all masks…: the dialogs around leaf_app.document.export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from leaf_app.document.export import default_export_name, export_all, export_mask, exportable
from leaf_core.errors import LeafError

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow


class ExportActions(QObject):
    """Export the current mask (PNG or DICOM SEG) or every mask into a folder."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def export_current(self) -> None:
        doc = self.window.current
        if doc is None or doc.mask is None:
            return
        start = str(doc.path.with_name(default_export_name(doc)))
        path, _ = QFileDialog.getSaveFileName(
            self.window, f"Export the mask of {doc.name}", start, "PNG mask (*.png);;DICOM Segmentation (*.dcm)"
        )
        if path:
            written = export_mask(doc, path, self.window.session.task)
            self.window.statusBar().showMessage(f"Exported {written}", 5000)
            self._after_save()

    def export_all(self) -> bool:
        """Export every predicted or corrected mask into a folder; True when written."""
        docs = exportable(self.window.session.documents)
        if not docs:
            raise LeafError("No masks to export yet: predict or draw a mask first.")
        folder = QFileDialog.getExistingDirectory(self.window, "Export all masks into…",
                                                  self.window.settings.value("last_folder", ""))
        if not folder:
            return False
        written = export_all(docs, folder, self.window.session.task)
        self.window.statusBar().showMessage(f"Exported {len(written)} file(s) to {folder}", 5000)
        self._after_save()
        return True

    def _after_save(self) -> None:
        self.window.recovery.save_now()
        self.window.update_actions()
