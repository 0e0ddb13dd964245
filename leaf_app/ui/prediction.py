"""Which model serves the current task, running predictions, and putting results on documents."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from leaf_app.document.image_document import DocState, ImageDocument
from leaf_app.document.session import Session
from leaf_app.model_hub import ModelHub
from leaf_app.ui.dialogs import show_error
from leaf_app.ui.predict_worker import PredictItem, PredictJob, PredictOutcome, PredictThread, run_job
from leaf_app.ui.settings import AppSettings
from leaf_core.uncertainty import uncertainty_score

log = logging.getLogger(__name__)


class PredictionController(QObject):
    """Starts prediction jobs for the session and applies their results on the GUI thread.

    Signals: ``busy_changed(bool)``, ``progress(done, total)``, ``models_changed()`` (the model
    folder of a task changed: actions and the status bar must update), ``job_done(completed)``,
    ``uncertainty_ready(row)``. An uncertainty job also sets the mask of an unpredicted image.
    """

    busy_changed = Signal(bool)
    progress = Signal(int, int)
    models_changed = Signal()
    job_done = Signal(bool)
    uncertainty_ready = Signal(int)  # row whose uncertainty map arrived

    def __init__(
        self,
        session: Session,
        settings: AppSettings,
        model_override: Path | None = None,
        parent_widget: QWidget | None = None,
    ) -> None:
        super().__init__(parent_widget)
        self.session = session
        self.settings = settings
        self.model_override = model_override
        self.hub = ModelHub()
        self.thread: PredictThread | None = None
        self._errors: list[str] = []
        self._parent_widget = parent_widget

    # --- which model --------------------------------------------------------------------------
    def model_dir(self) -> Path | None:
        """The model folder for the session's task (``--model`` wins), or None."""
        if self.model_override is not None:
            return self.model_override
        if self.session.task is None:
            return None
        folder = self.settings.model_dir(self.session.task)
        return folder if folder is not None and folder.is_dir() else None

    def set_model_dir(self, folder: Path) -> None:
        """Use ``folder`` for the current task from now on (remembered in the settings)."""
        if self.session.task is None:
            raise ValueError("choose a task before choosing its model")
        self.settings.set_model_dir(self.session.task, folder)
        self.model_override = None
        self.hub.forget(folder)
        self.models_changed.emit()

    def availability(self) -> str | None:
        """Why prediction is not possible now, in plain words; None when it is."""
        if self.session.task is None:
            return "No task chosen: pick one in the toolbar to use its model."
        if self.model_dir() is None:
            return f"No model for {self.session.task.label} yet: the three ways to get one are above the image"
        return None

    @property
    def busy(self) -> bool:
        return self.thread is not None

    # --- jobs ------------------------------------------------------------------------------------
    def predict(self, docs: list[ImageDocument], kind: str = "predict") -> bool:
        """Start a job for ``docs`` off the GUI thread; False if one is running or no model."""
        folder = self.model_dir()
        if self.busy or folder is None or not docs:
            return False
        items = [PredictItem(self.session.documents.index(d), d.path, d.image) for d in docs]
        self._errors = []
        self.thread = PredictThread(PredictJob(folder, items, kind=kind), self.hub, self)
        self.thread.result.connect(self._apply)
        self.thread.error.connect(self._on_error)
        self.thread.progress.connect(self.progress)
        self.thread.job_finished.connect(self._on_finished)
        self.busy_changed.emit(True)
        self.thread.start()
        return True

    def predict_now(self, docs: list[ImageDocument], kind: str = "predict") -> None:
        """Predict synchronously on this thread (for ``--screenshot``)."""
        folder = self.model_dir()
        if folder is None:
            return
        items = [PredictItem(self.session.documents.index(d), d.path, d.image) for d in docs]
        run_job(PredictJob(folder, items, kind=kind), self.hub, self._apply, self._on_error)
        self._report_errors()

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for the running job (the window is closing)."""
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait()
            self._on_finished(False)

    def _apply(self, outcome: PredictOutcome) -> None:
        doc = self.session.documents[outcome.index]
        if not doc.is_loaded:
            doc.set_image(outcome.image)
        if hasattr(outcome.result, "uncertainty"):
            doc.uncertainty = outcome.result.uncertainty
            doc.uncertainty_score = uncertainty_score(outcome.result.uncertainty)
            doc.uncertainty_model = outcome.model_dir
            self.uncertainty_ready.emit(outcome.index)
            if doc.state is not DocState.NOT_PREDICTED:
                return
        doc.set_prediction(outcome.result.mask, outcome.model, getattr(outcome.result, "probability", None))

    def _on_error(self, index: int, message: str) -> None:
        log.error(message)
        self._errors.append(message)

    def _on_finished(self, completed: bool) -> None:
        thread, self.thread = self.thread, None
        if thread is None:
            return
        thread.wait()
        thread.deleteLater()
        self.busy_changed.emit(False)
        self._report_errors()
        self.job_done.emit(completed)

    def _report_errors(self) -> None:
        errors, self._errors = self._errors, []
        if errors:
            shown = "\n".join(errors[:5]) + (f"\n… and {len(errors) - 5} more" if len(errors) > 5 else "")
            show_error(self._parent_widget, shown)
