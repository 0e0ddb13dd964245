"""Unsaved masks survive a crash: autosave after edits and every half minute, and the offer to
put them back on the next start (the folder format is leaf_app.document.autosave's)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from leaf_app.document.autosave import AutosaveStore
from leaf_app.ui import dialogs
from leaf_core.errors import LeafError
from leaf_core.logging_setup import user_data_dir
from leaf_core.tasks import TASKS

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 1500  # after the last edit
AUTOSAVE_INTERVAL_MS = 30_000


class Recovery(QObject):
    """``store`` is the session's autosave folder; ``schedule()`` after an edit, ``offer()`` at start."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.store = AutosaveStore(user_data_dir() / "autosave")
        self._after_edit = QTimer(self, singleShot=True, interval=AUTOSAVE_DELAY_MS)
        self._after_edit.timeout.connect(self.save_now)
        self._interval = QTimer(self, interval=AUTOSAVE_INTERVAL_MS)
        self._interval.timeout.connect(self.save_now)
        self._interval.start()

    def schedule(self) -> None:
        """Save a moment after the last edit (a stroke in progress is not saved half-way)."""
        self._after_edit.start()

    def save_now(self) -> None:
        try:
            self.store.save(self.window.session)
        except OSError as error:  # a full disk must not interrupt the user's work
            log.warning("autosave failed: %s", error)

    def stop(self, clear: bool) -> None:
        """The window closes: no more saves; ``clear`` when nothing is left to recover (a clean exit)."""
        self._after_edit.stop()
        self._interval.stop()
        if clear:
            self.store.clear()

    def offer(self) -> bool:
        """If the last run ended with unsaved masks, offer to put them back; True if recovered."""
        recovered = self.store.load()
        if recovered is None or not recovered.masks:
            self.store.clear()
            return False
        if not dialogs.ask_recover(self.window, len(recovered.masks)):
            self.store.clear()
            return False
        session = self.window.session
        self.window.open_paths([p for p in recovered.files if p.exists()])
        if recovered.task_name in TASKS:
            session.set_task(TASKS[recovered.task_name], by_user=True)
        for path, entry in recovered.masks.items():
            index = session.find(path)
            if index is None:
                continue
            doc = session.documents[index]
            try:
                session.load(doc)
                doc.restore_mask(entry.mask, entry.state, entry.model)
            except (LeafError, ValueError) as error:
                dialogs.show_error(self.window, f"cannot recover the mask of '{path.name}': {error}")
        session.set_current(recovered.current)
        self.window.show_current()
        self.save_now()
        return True
