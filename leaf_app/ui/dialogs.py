"""The questions and messages the app puts to the user, in plain words.

Tests patch the QMessageBox / QFileDialog static functions these call.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

TITLE = "LEAF Annotate"
log = logging.getLogger("leaf_app")


def show_error(parent: QWidget | None, message: str) -> None:
    """Tell the user what went wrong (the message is already written for people) and log it."""
    log.error(message)
    QMessageBox.warning(parent, TITLE, message)


def ask_quit_with_unsaved(parent: QWidget, count: int) -> QMessageBox.StandardButton:
    """Save (export all first), Discard (quit anyway) or Cancel (stay)."""
    return QMessageBox.question(
        parent,
        TITLE,
        f"{count} image(s) have corrections that are not exported yet.\n\n"
        "Export them before closing?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save,
    )


def ask_yes_no(parent: QWidget, question: str, default_yes: bool) -> bool:
    """A Yes/No question; True for Yes."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, TITLE, question, yes | no, yes if default_yes else no) == yes


def ask_recover(parent: QWidget, count: int) -> bool:
    return ask_yes_no(parent, f"LEAF Annotate was closed before {count} corrected mask(s) were exported.\n\n"
                      "Recover them now?", default_yes=True)


def ask_replace_corrections(parent: QWidget, name: str) -> bool:
    return ask_yes_no(parent, f"'{name}' has corrections. Replace them with a new prediction?", default_yes=False)


def ask_island_size(parent: QWidget, current: int) -> int | None:
    value, ok = QInputDialog.getInt(parent, TITLE, "Remove islands smaller than (pixels):", current, 1, 10_000_000)
    return int(value) if ok else None
