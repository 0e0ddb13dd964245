"""The correction loop in the window: a project to save corrections into, fine-tuning, versions.

``ProjectActions`` (the window's ``project``) adds File ▸ New project… / Open project… / Save
correction (Ctrl+S) / Import masks… and Model ▸ Fine-tune… / Model versions. The project (a
``CorrectionStore``) is remembered in the settings and reopened on the next start; when its
current model version changes, the window predicts with that version.

Advanced setting (settings.ini, no menu): ``new_model_autoencoder`` = a folder or hub id of the
frozen mask autoencoder for a project's first model, instead of the TAESD the package ships.
"""

from __future__ import annotations

import getpass
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from leaf_app.document.image_document import DocState, ImageDocument
from leaf_app.ui.actions import guarded
from leaf_app.ui.dialogs import TITLE, show_error
from leaf_app.ui.finetune_dialog import FinetuneDialog
from leaf_app.ui.import_masks import import_masks, show_report
from leaf_app.ui.model_versions import ModelVersionsMenu
from leaf_core.errors import LeafError
from leaf_core.project.store import CATALOG_NAME, CorrectionRecord, CorrectionStore

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

LAST_PROJECT_KEY = "last_project"
NEW_MODEL_AUTOENCODER_KEY = "new_model_autoencoder"


def correction_author() -> str:
    """Who saves a correction: the operating system's user name."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment (rare; e.g. some containers)
        return "unknown"


class ProjectActions(QObject):
    """The open project and the actions that use it. ``store`` is None until one is opened."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.store: CorrectionStore | None = None
        self.finetune_dialog: FinetuneDialog | None = None
        self._model_pending = False  # the project's current version waits for a task to be chosen
        self._image_keys: dict[tuple[Path, int | None], str] = {}  # the store's key of each open image, read once

        self.actions = {
            "new_project": self._action("&New project…", (), self.new_project_dialog),
            "open_project": self._action("Open p&roject…", (), self.open_project_dialog),
            "save_correction": self._action("&Save correction", ("Ctrl+S",), self.save_correction),
            "import_masks": self._action("&Import masks…", (), self.import_masks_dialog),
            "finetune": self._action("&Fine-tune…", (), self.open_finetune_dialog),
        }
        file_menu = window.menus["file"]
        before = window.actions["export_current"]
        for name in ("new_project", "open_project", "save_correction", "import_masks"):
            file_menu.insertAction(before, self.actions[name])
        file_menu.insertSeparator(before)

        model_menu = window.menus["model"]
        model_menu.addSeparator()
        model_menu.addAction(self.actions["finetune"])
        self.versions_menu = ModelVersionsMenu(None, "Model &versions", model_menu)
        self.versions_menu.currentVersionChanged.connect(self.use_version)
        model_menu.addMenu(self.versions_menu)
        window.menus["model_versions"] = self.versions_menu

        window.session.task_changed.connect(self._on_task_changed)
        window.session.document_loaded.connect(self.show_saved_correction)
        QApplication.instance().aboutToQuit.connect(self._stop_training)
        self._update()
        self._reopen_last_project()

    def _action(self, text: str, shortcuts: tuple[str, ...], method) -> QAction:  # noqa: ANN001
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(guarded(self.window, method))
        self.window.addAction(action)  # the shortcut works wherever the focus is
        return action

    # --- opening a project -------------------------------------------------------------------
    def new_project_dialog(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self.window, "New project: choose an empty folder", self._start_folder())
        if not folder:
            return False
        self.set_store(CorrectionStore.create(folder))
        return True

    def open_project_dialog(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a project folder", self._start_folder())
        if not folder:
            return False
        if not (Path(folder) / CATALOG_NAME).is_file():
            raise LeafError(f"'{folder}' is not a LEAF project (it has no {CATALOG_NAME}); "
                            "use File ▸ New project… to make one.")
        self.set_store(CorrectionStore.open(folder))
        return True

    def set_store(self, store: CorrectionStore) -> None:
        """Use ``store`` as the project from now on (remembered for the next start)."""
        if self.store is not None:
            self.store.close()
        self.store = store
        self._image_keys.clear()  # keys are salted per project
        store.models.remove_stale_staging()
        self.window.settings.set_value(LAST_PROJECT_KEY, str(store.root))
        self.versions_menu.set_versions(store.models)
        current = store.models.current()
        if current is not None and self.window.prediction.model_override is None:  # --model wins
            self._switch_model(current.path)
        for doc in self.window.session.documents:
            self.show_saved_correction(doc)
        self._update()
        self.window.statusBar().showMessage(f"Opened {self._project_summary()}", 5000)

    def _reopen_last_project(self) -> None:
        folder = self.window.settings.value(LAST_PROJECT_KEY, "")
        if not folder:
            return
        try:
            self.set_store(CorrectionStore.open(folder))
        except LeafError as error:  # moved or deleted since: start without a project, say why in the log
            log.warning("cannot reopen the last project %s: %s", folder, error)
            self.window.settings.set_value(LAST_PROJECT_KEY, "")

    def _start_folder(self) -> str:
        return str(self.store.root.parent) if self.store is not None else self.window.settings.value(LAST_PROJECT_KEY, "")

    def ensure_store(self) -> CorrectionStore | None:
        """The open project; with none, offer to create or open one (None when the user declines)."""
        if self.store is None:
            self._ask_for_project()
        return self.store

    def has_correction(self, doc: ImageDocument) -> bool:
        """True when the open project holds a correction of the document's image."""
        return self.saved_correction(doc) is not None

    def saved_correction(self, doc: ImageDocument) -> CorrectionRecord | None:
        """The open project's latest correction of the document's image (None: none, or no project)."""
        if self.store is None:
            return None
        place = (doc.path, doc.store_frame)
        key = self._image_keys.get(place)
        if key is None:
            key = self._image_keys[place] = self.store.image_key_for(*place)
        return self.store.latest_correction(key)

    def show_saved_correction(self, doc: ImageDocument) -> None:
        """Put the project's saved correction on an image just opened, so the work of an earlier
        session is what the user sees (and Predict all leaves it alone)."""
        if not doc.is_loaded or doc.state is not DocState.NOT_PREDICTED:
            return
        try:
            record = self.saved_correction(doc)
            if record is None or (record.height, record.width) != doc.shape:
                return
            mask = record.read_corrected_mask()
        except LeafError as error:  # the project's copy went missing: the image opens without it
            log.warning("cannot show the saved correction of %s: %s", doc.path.name, error)
            return
        doc.restore_mask(mask, DocState.SAVED)

    def corrected_count(self) -> int:
        """How many images the open project holds corrections for (0 without a project)."""
        return 0 if self.store is None else self.store.image_count()

    def _ask_for_project(self) -> bool:
        """No project is open: offer to create one (Yes) or open one (No); True when one is open."""
        answer = QMessageBox.question(
            self.window,
            TITLE,
            "Corrections are saved into a project: a folder that keeps them, with the models "
            "fine-tuned on them.\n\nCreate a new project? (No: open an existing one.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            return self.new_project_dialog()
        if answer == QMessageBox.StandardButton.No:
            return self.open_project_dialog()
        return False

    # --- saving ------------------------------------------------------------------------------
    def save_correction(self) -> None:
        """Save the current image's mask as its next revision in the project."""
        doc = self.window.current
        if doc is None or not doc.is_loaded or doc.mask is None:
            raise LeafError("Open an image and draw or predict its mask before saving a correction.")
        if self.ensure_store() is None:
            return
        task = self.window.session.task
        redactions = self.window.redaction.boxes_to_save(doc, self.store)  # type: ignore[arg-type]
        if redactions is None:  # the user chose to draw redaction boxes first
            return
        self.store.save_correction(  # type: ignore[union-attr]
            doc.path,
            doc.mask,
            doc.predicted_mask,
            self._model_version_of(doc.prediction_model),
            correction_author(),
            task=task.name if task else None,
            frame=doc.store_frame,
            redactions=redactions,
        )
        doc.mark_saved()
        self.window.recovery.save_now()
        self.window.update_actions()
        self.window.statusBar().showMessage(
            f"Saved '{doc.name}' into {self._project_summary()}", 5000)

    def import_masks_dialog(self) -> None:
        """Ask for a folder of masks made elsewhere and save them as corrections of the open images."""
        folder = QFileDialog.getExistingDirectory(self.window, "Import masks: the folder that holds them",
                                                  self.window.settings.value("last_folder", ""))
        if not folder:
            return
        report = import_masks(self.window, Path(folder), correction_author())
        if report is not None:
            self.window.update_actions()
            self.window.statusBar().showMessage(
                f"Imported {len(report.imported)} mask(s) into {self._project_summary()}", 5000)
            show_report(self.window, report)

    def _project_summary(self) -> str:
        """"project 'name' (N corrected image(s))", for the status bar after opening, saving or importing."""
        return (f"project '{self.store.root.name}' "  # type: ignore[union-attr]
                f"({self.store.image_count()} corrected image(s))")  # type: ignore[union-attr]

    def _model_version_of(self, stamp) -> str | None:  # noqa: ANN001
        """The version of this project that made the mask ("v2"), else the model's label, else None."""
        if stamp is None:
            return None
        if stamp.project_version and self.store is not None:
            if any(v.name == stamp.project_version for v in self.store.models.list_versions()):
                return stamp.project_version
        return str(stamp)

    # --- models --------------------------------------------------------------------------------
    def open_finetune_dialog(self) -> FinetuneDialog | None:
        if self.ensure_store() is None:
            return None
        if self.finetune_dialog is not None and self.finetune_dialog.runner.is_running():
            self.finetune_dialog.raise_()
            return self.finetune_dialog
        dialog = FinetuneDialog(self.store, self.new_model_autoencoder(), external_models=self._external_models(),
                                parent=self.window)
        dialog.versionCreated.connect(lambda _name: self.versions_menu.refresh())
        dialog.currentVersionChanged.connect(self.use_version)
        if self.finetune_dialog is not None:
            self.finetune_dialog.deleteLater()
        self.finetune_dialog = dialog
        dialog.show()
        return dialog

    def _external_models(self) -> list[tuple[str, Path]]:
        """The model the window predicts with, when it is not one of the project's versions."""
        folder = self.window.prediction.model_dir()
        if folder is None or self.store is None:
            return []
        if folder.resolve().is_relative_to(self.store.models.root.resolve()):
            return []
        return [(f"Model in use ({folder.name})", folder)]

    def new_model_autoencoder(self) -> str | None:
        """The advanced override of a first model's autoencoder (settings.ini), or None: the embedded TAESD."""
        return self.window.settings.value(NEW_MODEL_AUTOENCODER_KEY, "") or None

    def use_version(self, name: str) -> None:
        """A version became current (menu or dialog): predict with it."""
        if self.store is None:
            return
        try:
            version = self.store.models.get(name)
        except LeafError as error:
            show_error(self.window, str(error))
            return
        self.versions_menu.refresh()
        self._switch_model(version.path)

    def _switch_model(self, folder: Path) -> None:
        if self.window.session.task is None:
            self._model_pending = True  # applied once the task is known
            return
        self._model_pending = False
        self.window.prediction.set_model_dir(folder)

    def _on_task_changed(self, task) -> None:  # noqa: ANN001
        if task is not None and self._model_pending and self.store is not None:
            current = self.store.models.current()
            if current is not None:
                self._switch_model(current.path)

    def _stop_training(self) -> None:
        """The app quits: stop a running fine-tune (its staging folder is removed, no version appears)."""
        dialog = self.finetune_dialog
        if dialog is not None and dialog.runner.is_running():
            dialog.runner.cancel()
            dialog.runner.wait_until_stopped()

    # --- look ------------------------------------------------------------------------------------
    def _update(self) -> None:
        name = f" — project {self.store.root.name}" if self.store is not None else ""
        self.window.setWindowTitle(f"LEAF Annotate{name}")
