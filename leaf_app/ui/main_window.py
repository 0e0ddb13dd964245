"""The main window: binds the Session, the Canvas, the file list and prediction together.

Menus and keys are built in ``actions``; this class holds what each action does, in a few
lines each, delegating to the document model and the controllers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from leaf_app.document import mask_ops
from leaf_app.document.image_document import DocState, ImageDocument
from leaf_app.document.session import Session
from leaf_app.ui import dialogs
from leaf_app.ui.actions import NEEDS_IMAGE, PREDICT_ACTIONS, build_actions, build_menus, build_toolbar
from leaf_app.ui.canvas import Canvas, Tool
from leaf_app.ui.file_list import FileList
from leaf_app.ui.layers import OverlayMode
from leaf_app.ui.export_actions import ExportActions
from leaf_app.ui.model_setup import ModelSetup
from leaf_app.ui.model_setup_panel import ModelSetupPanel
from leaf_app.ui.next_to_correct import NextToCorrect
from leaf_app.ui.prediction import PredictionController
from leaf_app.ui.project_actions import ProjectActions
from leaf_app.ui.recovery import Recovery
from leaf_app.ui.redact_tool import RedactTool
from leaf_app.ui.settings import AppSettings
from leaf_core.errors import LeafError
from leaf_core.io.folders import IMAGE_SUFFIXES
from leaf_core.io.window_presets import window_for_preset
from leaf_core.tasks import TASKS, get_task



class MainWindow(QMainWindow):
    """The annotation window. ``session``, ``canvas``, ``prediction``, ``project`` (the correction
    loop), ``model_setup`` (the first model), ``next_to_correct``, ``exports``, ``recovery``,
    ``redaction``, ``actions`` and ``menus`` are public so features (and tests) can bind to them."""

    def __init__(self, settings: AppSettings | None = None, model_override: Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("LEAF Annotate")
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.session = Session()
        self.prediction = PredictionController(self.session, self.settings, model_override, self)
        self.island_size = 100
        self._closed = False
        self._uncertainty_asked_for: ImageDocument | None = None  # Compute uncertainty shows its map

        self.canvas = Canvas(self)
        self.file_list = FileList(self.session, self)
        self.model_setup_panel = ModelSetupPanel(self)
        image_side = QWidget(self)
        image_layout = QVBoxLayout(image_side)
        image_layout.setContentsMargins(0, 0, 0, 0)
        image_layout.addWidget(self.model_setup_panel)
        image_layout.addWidget(self.canvas, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.file_list)
        splitter.addWidget(image_side)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 960])
        self.setCentralWidget(splitter)

        self.actions = build_actions(self)
        self.menus = build_menus(self, self.actions)
        self._build_toolbar()
        self._build_status_bar()
        self.recovery = Recovery(self)
        self.exports = ExportActions(self)
        self.model_setup = ModelSetup(self, self.model_setup_panel)
        self.menus["model"].insertActions(self.actions["choose_model"], list(self.model_setup.actions.values()))
        self.project = ProjectActions(self)

        self.session.current_changed.connect(self.show_current)
        self.session.task_changed.connect(self._on_task_changed)
        self.canvas.edited.connect(self._on_edited)
        self.canvas.brush_changed.connect(lambda _r: self._update_status())
        self.canvas.zoom_changed.connect(lambda _z: self._update_status())
        self.canvas.window_changed.connect(lambda _c, _w: self._update_status())
        self.prediction.busy_changed.connect(self._on_busy_changed)
        self.prediction.progress.connect(self._on_progress)
        self.prediction.models_changed.connect(self.update_actions)
        self.prediction.uncertainty_ready.connect(self._on_uncertainty_ready)
        self.prediction.job_done.connect(lambda _completed: self.update_actions())
        self.next_to_correct = NextToCorrect(self)
        self.redaction = RedactTool(self)  # after show_current is connected: it draws on the shown image

        self.canvas.set_brush_radius(self.settings.value("brush_radius", 12, int))
        self.resize(1280, 800)
        self.update_actions()

    # --- building -------------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        toolbar = build_toolbar(self, self.actions)
        self.task_combo = QComboBox(self)
        self.task_combo.addItem("Choose a task…", None)
        for task in TASKS.values():
            self.task_combo.addItem(task.label, task.name)
        self.task_combo.currentIndexChanged.connect(self._on_task_combo)
        toolbar.insertWidget(toolbar.actions()[0], self.task_combo)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Opacity ", self))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(self.canvas.overlay_opacity * 100))
        self.opacity_slider.setMaximumWidth(120)
        self.opacity_slider.valueChanged.connect(lambda v: self.canvas.set_overlay_opacity(v / 100))
        toolbar.addWidget(self.opacity_slider)
        self.addToolBar(toolbar)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel(self)
        self.tool_label = QLabel(self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(200)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_prediction)
        bar.addWidget(self.model_label, 1)
        bar.addPermanentWidget(self.tool_label)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        self.progress_bar.hide()
        self.cancel_button.hide()

    # --- opening ------------------------------------------------------------------------------------
    @property
    def current(self) -> ImageDocument | None:
        return self.session.current

    def open_paths(self, paths: list[str | Path]) -> None:
        """Open image files and folders; errors become a dialog."""
        try:
            added = self.session.open_paths(paths)
        except LeafError as error:
            dialogs.show_error(self, str(error))
            return
        if added:
            self.settings.set_value("last_folder", str(added[0].path.parent))
        self.update_actions()

    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open images", self.settings.value("last_folder", ""),
            f"Images ({' '.join('*' + suffix for suffix in IMAGE_SUFFIXES)});;All files (*)",
        )
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.value("last_folder", ""))
        if folder:
            self.open_paths([folder])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_paths(paths)
            event.acceptProposedAction()

    def show_current(self, _index: int = -1) -> None:
        """Load (if needed) and show the session's current image."""
        doc = self.current
        if doc is not None and not doc.is_loaded:
            try:
                self.session.load(doc)
            except LeafError as error:
                self.file_list.refresh(doc)
                self.canvas.set_document(None)
                dialogs.show_error(self, str(error))
                self.update_actions()
                return
        self.canvas.set_document(doc)
        self.canvas.set_uncertainty_visible(self.actions["show_uncertainty"].isChecked())
        self.update_actions()

    def next_image(self) -> None:
        self.session.go_next()

    def previous_image(self) -> None:
        self.session.go_previous()

    # --- task and model --------------------------------------------------------------------------------
    def _on_task_combo(self, index: int) -> None:
        name = self.task_combo.itemData(index)
        self.session.set_task(get_task(name) if name else None, by_user=True)
        if name:
            self.settings.set_value("last_task", name)

    def _on_task_changed(self, task) -> None:  # noqa: ANN001
        self.task_combo.blockSignals(True)
        self.task_combo.setCurrentIndex(self.task_combo.findData(task.name if task else None))
        self.task_combo.blockSignals(False)
        self.update_actions()

    def set_task(self, name: str) -> None:
        self.session.set_task(get_task(name), by_user=True)

    def choose_model_folder(self) -> None:
        if self.session.task is None:
            raise LeafError("Choose a task first (in the toolbar): each task has its own model.")
        folder = QFileDialog.getExistingDirectory(self, f"Model folder for {self.session.task.label}")
        if folder:
            self.prediction.set_model_dir(Path(folder))

    # --- prediction ---------------------------------------------------------------------------------------
    def predict_current(self) -> None:
        doc = self.current
        if doc is None or not doc.is_loaded:
            return
        if doc.has_unsaved_edits and not dialogs.ask_replace_corrections(self, doc.name):
            return
        self.prediction.predict([doc])

    def predict_all(self) -> None:
        """Predict every image not predicted yet (corrections, saved ones included, are never overwritten)."""
        todo = [d for d in self.session.documents
                if d.state is DocState.NOT_PREDICTED and not d.load_error and not self.project.has_correction(d)]
        self.prediction.predict(todo)

    def compute_uncertainty(self) -> None:
        doc = self.current
        if doc is not None and doc.is_loaded and self.prediction.predict([doc], kind="uncertainty"):
            self._uncertainty_asked_for = doc

    def cancel_prediction(self) -> None:
        self.prediction.cancel()

    def _on_busy_changed(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.update_actions()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        self.progress_bar.setFormat(f"{done}/{total}")

    def _on_uncertainty_ready(self, row: int) -> None:
        """A score for the file list; the map itself only where the user asked for it (the scores
        Next image to correct computes leave the view as it is)."""
        doc = self.session.documents[row]
        self.file_list.refresh(doc)
        if doc is not self._uncertainty_asked_for:
            return
        self._uncertainty_asked_for = None
        if row == self.session.current_index:
            self.actions["show_uncertainty"].setChecked(True)
            self.canvas.set_uncertainty_visible(True)

    # --- editing ------------------------------------------------------------------------------------------
    def _edit(self, operation: Callable[..., object], *args: object) -> None:
        doc = self.current
        if doc is not None and doc.is_loaded and doc.apply(operation, *args) is not None:
            self._on_edited()

    def undo(self) -> None:
        if self.current is not None and self.current.is_loaded and self.current.undo() is not None:
            self._on_edited()

    def redo(self) -> None:
        if self.current is not None and self.current.is_loaded and self.current.redo() is not None:
            self._on_edited()

    def fill_holes(self) -> None:
        self._edit(mask_ops.fill_holes)

    def remove_small_islands(self) -> None:
        size = dialogs.ask_island_size(self, self.island_size)
        if size is not None:
            self.island_size = size
            self._edit(mask_ops.remove_small_islands, size)

    def clear_mask(self) -> None:
        self._edit(mask_ops.clear)

    def _on_edited(self) -> None:
        self.recovery.schedule()
        self.update_actions()

    def use_tool(self, tool: Tool) -> None:
        """Make ``tool`` the canvas's tool and check its action (tool_brush, tool_eraser, ...)."""
        self.canvas.set_tool(tool)
        self.actions[f"tool_{tool.name.lower()}"].setChecked(True)
        self._update_status()

    def grow_brush(self) -> None:
        self.canvas.grow_brush()
        self.settings.set_value("brush_radius", self.canvas.brush_radius)

    def shrink_brush(self) -> None:
        self.canvas.shrink_brush()
        self.settings.set_value("brush_radius", self.canvas.brush_radius)

    # --- view ---------------------------------------------------------------------------------------------------
    def toggle_overlay(self) -> None:
        visible = self.actions["toggle_overlay"].isChecked()
        outline = self.actions["outline"].isChecked()
        self.canvas.set_overlay_mode(OverlayMode.HIDDEN if not visible else OverlayMode.OUTLINE if outline else OverlayMode.FILL)

    def toggle_outline(self) -> None:
        self.actions["toggle_overlay"].setChecked(True)
        self.toggle_overlay()

    def toggle_uncertainty(self) -> None:
        self.canvas.set_uncertainty_visible(self.actions["show_uncertainty"].isChecked())

    def apply_window_preset(self, name: str) -> None:
        doc = self.current
        if doc is None or not doc.is_grey:
            raise LeafError("Window/level applies to grey images (X-ray, DICOM); this image is in colour.")
        self.canvas.set_window(*window_for_preset(name, doc.image))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closed:  # closing again (e.g. by the test harness) asks nothing
            event.accept()
            return
        unsaved = self.session.unsaved_documents
        if unsaved:
            answer = dialogs.ask_quit_with_unsaved(self, len(unsaved))
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                try:
                    if not self.exports.export_all():
                        event.ignore()
                        return
                except LeafError as error:
                    dialogs.show_error(self, str(error))
                    event.ignore()
                    return
        self.prediction.shutdown()
        self.recovery.stop(clear=True)  # a clean exit: nothing to recover
        self.settings.qsettings.sync()
        self._closed = True
        event.accept()

    # --- status -----------------------------------------------------------------------------------------------------------
    def update_actions(self) -> None:
        doc = self.current
        loaded = doc is not None and doc.is_loaded
        for name in NEEDS_IMAGE:
            self.actions[name].setEnabled(loaded)
        if loaded:
            self.actions["undo"].setEnabled(doc.history.can_undo)
            self.actions["redo"].setEnabled(doc.history.can_redo)
        can_predict = self.prediction.availability() is None and not self.prediction.busy
        for name in PREDICT_ACTIONS:
            self.actions[name].setEnabled(can_predict and bool(self.session.documents))
        self.actions["cancel"].setEnabled(self.prediction.busy)
        self.actions["export_all"].setEnabled(bool(self.session.documents))
        self.actions["next_to_correct"].setEnabled(can_predict and bool(self.session.documents))
        self.model_setup.refresh()
        self._update_status()

    def _update_status(self) -> None:
        self.model_label.setText(self.status_text())
        tool = self.canvas.tool.value
        size = f", brush {self.canvas.brush_radius} px" if self.canvas.tool in (Tool.BRUSH, Tool.ERASER) else ""
        window = ""
        doc = self.current
        if doc is not None and doc.is_grey and doc.window is not None:
            window = f" · W {doc.window[1]:.0f} L {doc.window[0]:.0f}"
        self.tool_label.setText(f"{tool}{size} · zoom {self.canvas.zoom * 100:.0f}%{window}")

    def status_text(self) -> str:
        """What the status bar says about models: who made the mask on screen, or why none can."""
        doc = self.current
        problem = self.prediction.availability()
        if doc is not None and doc.load_error:
            return doc.load_error
        if doc is not None and doc.prediction_model is not None:
            text = f"Mask by {doc.prediction_model.with_engine()}"
            if doc.state is DocState.CORRECTED:
                text += " (corrected by hand, not saved)"
            elif doc.state is DocState.SAVED:
                text += " (saved)"
            return text
        if problem:
            return problem
        if doc is not None and doc.state is DocState.CORRECTED:
            return "Mask drawn by hand (not saved)"
        return f"Model ready: {self.prediction.model_dir().name} — press P to predict"  # type: ignore[union-attr]
