"""Next image to correct (N): the uncorrected image the current model is least sure about.

Candidates are the open images that are not corrected (in the window or in the project). Each
gets the mean per-pixel uncertainty of a small ensemble (leaf_core.uncertainty), computed in
the background the first time a model is asked; then the least certain one is shown. Correcting
the images a model is unsure of teaches it the most (MONAI Label's "next sample").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from leaf_app.document.image_document import DocState, ImageDocument
from leaf_core.errors import LeafError

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow


class NextToCorrect(QObject):
    """``go()`` moves the window to the least certain uncorrected image (scoring first if needed)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._waiting_for_scores = False
        window.prediction.job_done.connect(self._on_prediction_done)

    def candidates(self) -> list[ImageDocument]:
        """Open images with no correction, in the window or in the project."""
        return [d for d in self.window.session.documents if d.state in (DocState.NOT_PREDICTED, DocState.PREDICTED)
                and not d.load_error and not self.window.project.has_correction(d)]

    def go(self) -> None:
        prediction, bar = self.window.prediction, self.window.statusBar()
        problem = prediction.availability()
        if problem:
            raise LeafError(problem)
        if prediction.busy:
            raise LeafError("Wait for the prediction in progress (or cancel it with Esc) first.")
        candidates = self.candidates()
        if not candidates:
            bar.showMessage("Every open image is corrected", 5000)
            return
        folder = prediction.model_dir()
        unscored = [d for d in candidates if d.uncertainty_model != folder]
        if unscored and not self._waiting_for_scores:
            self._waiting_for_scores = True
            bar.showMessage(f"Scoring {len(unscored)} image(s) by how unsure the model is…")
            prediction.predict(unscored, kind="uncertainty")
            return
        self._waiting_for_scores = False
        scored = [d for d in candidates if d.uncertainty_model == folder]  # images that failed stay unscored
        if scored:
            best = max(scored, key=lambda d: d.uncertainty_score)
            self.window.session.set_current(self.window.session.documents.index(best))
            bar.showMessage(f"Least certain: {best.name} (uncertainty {best.uncertainty_score:.3f})", 5000)

    def _on_prediction_done(self, completed: bool) -> None:
        if not self._waiting_for_scores:
            return
        if completed:
            self.go()
        else:
            self._waiting_for_scores = False
