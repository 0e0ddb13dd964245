"""Getting a first model from inside the app: the banner's three ways, and the jobs behind two.

With no model for the task, ``ModelSetup`` shows ``ModelSetupPanel`` above the image: open a
model folder, import the authors' released weights (``leaf import-weights``), or train a first
model on the project's corrections (``leaf train`` with ``first_model_settings``). Both jobs run
in a separate process (JobRunner) with a progress bar, the time left and Cancel; the result
becomes the project's next version and the model in use, and predicts the open image unless the
clinician corrected it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QInputDialog

from leaf_app.ui.actions import guarded
from leaf_app.ui.dialogs import TITLE, show_error
from leaf_app.ui.job_runner import JobRunner
from leaf_app.ui.model_setup_panel import ModelSetupPanel
from leaf_core.errors import LeafError
from leaf_core.project.first_model import MIN_CORRECTIONS, first_model_settings, readiness
from leaf_core.project.job_progress import RemainingTime, describe_seconds
from leaf_core.project.model_jobs import ModelJob, commit_job, prepare_import_job, prepare_job

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow

RELEASED_WEIGHTS_EXAMPLE = "pearisli/LEAF-QaTa-COV19"


class ModelSetup(QObject):
    """The banner, its two jobs, and the Model menu items that start them."""

    def __init__(self, window: MainWindow, panel: ModelSetupPanel) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.runner: JobRunner | None = None
        self._job: ModelJob | None = None
        self._what = ""
        self._remaining = RemainingTime()
        self.actions = {
            "import_weights": self._action("&Import released LEAF weights…", self.import_released_weights),
            "train_first_model": self._action("&Train first model", self.train_first_model),
        }
        panel.open_button.clicked.connect(guarded(window, window.choose_model_folder))
        panel.import_button.clicked.connect(self.actions["import_weights"].trigger)
        panel.train_button.clicked.connect(self.actions["train_first_model"].trigger)
        panel.cancel_button.clicked.connect(self.cancel)
        QApplication.instance().aboutToQuit.connect(self._stop)

    def _action(self, text: str, method) -> QAction:  # noqa: ANN001
        action = QAction(text, self.window)
        action.triggered.connect(guarded(self.window, method))
        return action

    # --- what the banner says ---------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.runner is not None and self.runner.is_running()

    def refresh(self) -> None:
        """Show the banner while the task has no model (or a setup job runs); update its words."""
        task = self.window.session.task
        needed = task is not None and self.window.prediction.model_dir() is None
        self.panel.setVisible(needed or self.busy)
        if not needed or task is None:
            return
        count = self.window.project.corrected_count()
        self.panel.title.setText(f"No model for {task.label} yet")
        self.panel.explanation.setText(
            f"A model outlines the {task.structure} for you to correct. Three ways to get one: open a model "
            f"folder you already have; import the released LEAF weights (a folder, or a hub id such as "
            f"{RELEASED_WEIGHTS_EXAMPLE}); or train a first model on your own corrected images (save them "
            f"with Ctrl+S, or bring masks from another tool with File ▸ Import masks…). This project: "
            f"{readiness(count)}."
        )
        ready = count >= MIN_CORRECTIONS
        self.panel.train_button.setText("Train a first model" + ("" if ready else f" ({count} of {MIN_CORRECTIONS})"))
        self.panel.train_button.setEnabled(ready and not self.busy)
        self.actions["train_first_model"].setEnabled(not self.busy)
        self.actions["import_weights"].setEnabled(not self.busy)

    # --- the two jobs ------------------------------------------------------------------------
    def train_first_model(self) -> None:
        """Train the project's first model on its corrections, in the background."""
        store = self.window.project.ensure_store()
        if store is None:
            return
        count = store.image_count()
        if count < MIN_CORRECTIONS:
            raise LeafError(f"A first model needs at least {MIN_CORRECTIONS} corrected images; this project has "
                            f"{count}. Save corrections (Ctrl+S) or import masks (File ▸ Import masks…) first.")
        job = prepare_job(store, None, first_model_settings(count), self.window.project.new_model_autoencoder())
        self._start(job, f"Training a first model on {count} corrected images")

    def import_released_weights(self) -> None:
        """Ask for a released model (folder or hub id) and import it as the project's next version."""
        source, ok = QInputDialog.getText(
            self.window, TITLE, "Released LEAF weights to import: a folder, or a hub id such as "
            f"{RELEASED_WEIGHTS_EXAMPLE} (downloaded once, then kept):")
        if not ok or not source.strip():
            return
        store = self.window.project.ensure_store()
        if store is None:
            return
        self._start(prepare_import_job(store, source), f"Importing {source.strip()}")

    def cancel(self) -> None:
        if self.runner is not None:
            self.panel.progress_label.setText("Cancelling…")
            self.runner.cancel()

    def _start(self, job: ModelJob, what: str) -> None:
        if self.busy:
            raise LeafError("A model is already being prepared; wait for it or cancel it first.")
        self._job, self._what = job, what
        self._remaining = RemainingTime()
        store = self.window.project.store
        runner = JobRunner(store.models, self)  # type: ignore[union-attr]
        runner.started.connect(self._on_started)
        runner.progress.connect(self._on_progress)
        runner.validated.connect(self._on_validated)
        runner.noticed.connect(self._on_notice)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)
        self.runner = runner
        self.panel.progress_bar.setRange(0, 0)  # busy until the first step
        self.panel.progress_label.setText(f"{what}: starting…")
        self.panel.show_progress(True)
        self.refresh()
        runner.start(job)

    def _on_started(self, total_steps: int, device: str) -> None:
        self.panel.progress_bar.setRange(0, max(total_steps, 1))
        self.panel.progress_label.setText(f"{self._what} on {device or 'this computer'}…")

    def _on_progress(self, step: int, total_steps: int, _loss: float) -> None:
        self._remaining.update(step, total_steps)
        self.panel.progress_bar.setRange(0, max(total_steps, 1))
        self.panel.progress_bar.setValue(step)
        left = describe_seconds(self._remaining.seconds_left())
        self.panel.progress_label.setText(f"{self._what}: step {step} of {total_steps}" + (f", {left}" if left else ""))

    def _on_notice(self, message: str) -> None:
        self.window.statusBar().showMessage(f"{self._what}: {message}", 15000)

    def _on_validated(self, step: int, dice: float) -> None:
        self.panel.progress_bar.setToolTip(f"validation Dice {dice:.3f} at step {step}")

    def _on_finished(self, _model_dir: str) -> None:
        store, job = self.window.project.store, self._job
        self._end()
        try:
            version = commit_job(store, job, self.runner.done_event)  # type: ignore[arg-type, union-attr]
        except LeafError as error:
            show_error(self.window, f"{self._what} failed: {error}. The project is unchanged.")
            return
        store.models.set_current(version)  # type: ignore[union-attr]
        self.window.project.use_version(version)
        self._show_new_model(version)

    def _show_new_model(self, version: str) -> None:
        """Predict the open image with the new model, unless the clinician's own mask is on it: a
        correction (saved, or edits not saved yet) stays shown as they made it."""
        window, bar = self.window, self.window.statusBar()
        doc = window.current
        if doc is not None and (doc.has_unsaved_edits or window.project.has_correction(doc)):
            bar.showMessage(f"{version} is ready and in use. This image keeps your correction: "
                            "P shows the model's mask, N goes to the image it is least sure of", 15000)
            return
        bar.showMessage(f"{version} is ready and in use", 8000)
        window.predict_current()

    def _on_failed(self, message: str) -> None:
        self._end()
        show_error(self.window, f"{self._what} failed: {message}. The project is unchanged.")

    def _on_cancelled(self) -> None:
        self._end()
        self.window.statusBar().showMessage(f"{self._what}: cancelled; the project is unchanged", 8000)

    def _end(self) -> None:
        self.panel.show_progress(False)
        self.window.update_actions()

    def _stop(self) -> None:
        """The app quits: stop a running job (its staging folder is removed, no version appears)."""
        if self.busy:
            self.runner.cancel()  # type: ignore[union-attr]
            self.runner.wait_until_stopped()  # type: ignore[union-attr]
