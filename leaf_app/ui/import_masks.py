"""File ▸ Import masks…: masks from another tool saved as corrections of the open images.

Matching and reading are leaf_core.project.mask_import's; this module loads the matched images,
saves each mask into the project (with the redaction boxes drawn on it, and the once-per-project
burned-in text warning, as Ctrl+S does), shows it on its image, and reports what could not be used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from leaf_app.document.image_document import DocState, ImageDocument
from leaf_app.ui.dialogs import TITLE
from leaf_core.errors import LeafError
from leaf_core.io.dicom import read_dataset
from leaf_core.io.sniff import sniff_format
from leaf_core.project.mask_import import ImageToMatch, match_masks, read_imported_mask

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow

log = logging.getLogger(__name__)
REPORT_LINES_SHOWN = 20


@dataclass
class MaskImportReport:
    """imported: documents that got a mask; problems: one line per file that could not be used."""

    folder: Path
    imported: list[ImageDocument] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = f"Imported {len(self.imported)} mask(s) from '{self.folder}' as corrections."
        if not self.problems:
            return head
        shown = self.problems[:REPORT_LINES_SHOWN]
        more = len(self.problems) - len(shown)
        return "\n".join([head, "", f"{len(self.problems)} could not be used:", *shown]
                         + ([f"… and {more} more (all of them are in the log)"] if more else []))


def import_masks(window: MainWindow, folder: Path, author: str) -> MaskImportReport | None:
    """Save the masks in ``folder`` as corrections of the open images; None when no project was chosen."""
    docs = [d for d in window.session.documents if not d.load_error]
    if not docs:
        raise LeafError("Open the images first: masks are matched to the open images by file name.")
    store = window.project.ensure_store()
    if store is None:
        return None
    task = window.session.task
    report = MaskImportReport(folder)
    by_path = {doc.path: doc for doc in docs}
    matches = match_masks([_image_to_match(doc) for doc in docs], folder)
    for image, mask_path in matches.pairs:
        doc = by_path[image.path]
        try:
            window.session.load(doc)
            mask = read_imported_mask(mask_path, image, doc.shape)
            redactions = window.redaction.boxes_to_save(doc, store)  # warns once per project about burned-in text
            if redactions is None:
                report.problems.append(f"{mask_path.name} and the rest: not imported, so that burned-in text can be "
                                       "redacted first (Tools ▸ Redact burned-in text)")
                break
            store.save_correction(doc.path, mask, None, None, author, task=task.name if task else None,
                                  redactions=redactions)
        except LeafError as error:
            report.problems.append(f"{mask_path.name}: {error}")
            continue
        doc.restore_mask(mask, DocState.SAVED)
        report.imported.append(doc)
    report.problems += [f"{path.name}: no open image has this name" for path in matches.unmatched_masks]
    report.problems += [f"{path.name}: {problem}" for path, problem in matches.problems]
    for line in report.problems:
        log.warning("import masks: %s", line)
    return report


def show_report(window: MainWindow, report: MaskImportReport) -> None:
    QMessageBox.information(window, TITLE, report.summary())


def _image_to_match(doc: ImageDocument) -> ImageToMatch:
    """The document's path and, for DICOM, its SOP Instance UID (from the header only)."""
    if doc.is_loaded:
        return ImageToMatch(doc.path, doc.image.meta.sop_instance_uid)
    try:
        header = read_dataset(doc.path, stop_before_pixels=True) if _looks_like_dicom(doc.path) else None
    except LeafError:
        header = None
    uid = str(header.get("SOPInstanceUID", "")) if header is not None else ""
    return ImageToMatch(doc.path, uid or None)


def _looks_like_dicom(path: Path) -> bool:
    try:
        return sniff_format(path) == "dicom"
    except LeafError:
        return False
