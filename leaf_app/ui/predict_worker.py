"""Prediction off the GUI thread: one job (one image or a batch) at a time, cancellable.

``run_job`` is plain Python (it also serves ``--screenshot``, synchronously); PredictThread runs
it in a QThread and turns its callbacks into signals, which Qt delivers on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

from leaf_app.model_hub import ModelHub
from leaf_core.errors import LeafError
from leaf_core.io.images import read_image

log = logging.getLogger(__name__)


@dataclass
class PredictItem:
    index: int  # row in the session
    path: Path
    image: Any | None = None  # LoadedImage when the GUI already read it


@dataclass
class PredictJob:
    """``kind`` is "predict" (one seed) or "uncertainty" (``ensemble_size`` seeds)."""

    model_dir: Path
    items: list[PredictItem]
    kind: str = "predict"
    ensemble_size: int = 4
    seed: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)


@dataclass
class PredictOutcome:
    index: int
    image: Any  # LoadedImage
    result: Any  # Prediction or EnsemblePrediction
    model: Any  # ModelStamp
    model_dir: Path  # the folder the model was loaded from


def run_job(
    job: PredictJob,
    hub: ModelHub,
    on_result: Callable[[PredictOutcome], None],
    on_error: Callable[[int, str], None],
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> bool:
    """Predict every item; returns False when cancelled. Errors are reported, never raised.

    ``on_error(index, message)`` gets index -1 when the model itself cannot be loaded.
    """
    try:
        loaded = hub.get(job.model_dir)
    except LeafError as error:
        on_error(-1, str(error))
        return True
    except Exception as error:  # a broken model folder must not take the app down
        log.exception("loading the model in %s failed", job.model_dir)
        on_error(-1, f"cannot load the model in '{job.model_dir}': {error}")
        return True
    total = len(job.items)
    on_progress(0, total)
    for done, item in enumerate(job.items, start=1):
        if job.cancel_event.is_set():
            return False
        try:
            image = item.image if item.image is not None else read_image(item.path)
            loaded.predictor.set_image(image.rgb)
            if job.kind == "predict":
                result = loaded.predictor.predict(seed=job.seed)
            elif job.kind == "uncertainty":
                result = loaded.predictor.predict_ensemble(job.ensemble_size)
            else:
                raise ValueError(f"unknown prediction kind {job.kind!r}")
            on_result(PredictOutcome(item.index, image, result, loaded.stamp, job.model_dir))
        except LeafError as error:
            on_error(item.index, str(error))
        except Exception as error:
            log.exception("prediction of %s failed", item.path)
            on_error(item.index, f"the prediction of '{item.path.name}' failed: {error}")
        on_progress(done, total)
    return not job.cancel_event.is_set()


class PredictThread(QThread):
    """Runs one PredictJob; ``cancel()`` stops it after the image in progress."""

    result = Signal(object)  # PredictOutcome
    error = Signal(int, str)
    progress = Signal(int, int)
    job_finished = Signal(bool)  # True when it ran to the end, False when cancelled

    def __init__(self, job: PredictJob, hub: ModelHub, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.job = job
        self.hub = hub

    def run(self) -> None:
        completed = run_job(self.job, self.hub, self.result.emit, self.error.emit, self.progress.emit)
        self.job_finished.emit(completed)

    def cancel(self) -> None:
        self.job.cancel_event.set()
