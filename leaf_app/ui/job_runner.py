"""Runs a fine-tune job (leaf_core.project.model_jobs) in a QProcess and reports it as Qt signals.

Training runs in a separate process, so the window never freezes and a crash or an out-of-memory
in training cannot take the app down. The runner only runs and reports: on success it hands back
the produced model folder (still in the job's staging folder; the caller commits it as a version);
on failure or cancel it deletes the staging folder, so no version appears.
"""

from __future__ import annotations

import math
import os
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from leaf_core.project.job_progress import (
    JobDone, JobError, JobNotice, JobStarted, ProgressParser, StepProgress, Validation,
)
from leaf_core.project.model_jobs import ModelJob, plain_failure_message, produced_model_dir
from leaf_core.project.versions import ModelVersions

CANCEL_GRACE_MS = 5000
STDERR_LINES_KEPT = 40


class JobRunner(QObject):
    """One job at a time. ``start(job)``, then one of finished / failed / cancelled is emitted once."""

    started = Signal(int, str)  # total_steps, device ("cpu", "cuda", ...)
    progress = Signal(int, int, float)  # step, total_steps, loss (NaN for a job that does not train)
    validated = Signal(int, float)  # step, val Dice
    noticed = Signal(str)  # a line for the user; the job goes on (e.g. "alignment off: ...")
    finished = Signal(str)  # the produced model folder
    failed = Signal(str)  # a plain message for the user
    cancelled = Signal()

    def __init__(self, models: ModelVersions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._models = models
        self._process: QProcess | None = None
        self._job: ModelJob | None = None
        self._parser = ProgressParser()
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self._stderr_pending = ""
        self._done: JobDone | None = None
        self._error: JobError | None = None
        self._cancelling = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    # ------------------------------------------------------------------ public
    @property
    def job(self) -> ModelJob | None:
        return self._job

    @property
    def done_event(self) -> JobDone | None:
        """The job's ``done`` event (best val Dice, model folder), once it finished."""
        return self._done

    def is_running(self) -> bool:
        return self._process is not None

    def start(self, job: ModelJob) -> None:
        """Start ``job``'s command; its staging folder must exist."""
        if self._process is not None:
            raise RuntimeError("a job is already running; cancel it or wait for it to finish first")
        self._job = job
        self._parser = ProgressParser()
        self._stderr_tail.clear()
        self._stderr_pending = ""
        self._done = self._error = None
        self._cancelling = False
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")  # progress lines as they happen, not at exit
        process.setProcessEnvironment(environment)
        process.setWorkingDirectory(str(job.staging_dir))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        process.start(job.command[0], list(job.command[1:]))

    def cancel(self) -> None:
        """Stop the job (terminate, then kill after a grace period); ``cancelled`` follows."""
        if self._process is None or self._cancelling:
            return
        self._cancelling = True
        self._process.terminate()
        self._kill_timer.start(CANCEL_GRACE_MS)

    def wait_until_stopped(self, timeout_ms: int = CANCEL_GRACE_MS * 2) -> None:
        """Block until the process is gone (used when the app quits with a job running)."""
        if self._process is not None:
            self._process.waitForFinished(timeout_ms)

    # --------------------------------------------------------------- internals
    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()

    def _read_stdout(self) -> None:
        if self._process is None:
            return
        self._handle(self._parser.feed(bytes(self._process.readAllStandardOutput())))

    def _read_stderr(self) -> None:
        if self._process is None:
            return
        text = self._stderr_pending + bytes(self._process.readAllStandardError()).decode("utf-8", errors="replace")
        *lines, self._stderr_pending = text.split("\n")
        self._stderr_tail.extend(lines)

    def _handle(self, events: list) -> None:
        for event in events:
            if isinstance(event, JobStarted):
                self.started.emit(event.total_steps, event.device)
            elif isinstance(event, StepProgress):
                self.progress.emit(event.step, event.total_steps, math.nan if event.loss is None else event.loss)
            elif isinstance(event, Validation):
                self.validated.emit(event.step, event.val_dice)
            elif isinstance(event, JobDone):
                self._done = event
            elif isinstance(event, JobError):
                self._error = event
            elif isinstance(event, JobNotice):
                self.noticed.emit(event.message)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        # A program that never started gets no finished signal; the rest end in _on_finished.
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            program = self._job.command[0] if self._job else "?"
            self._end(failure=f"cannot start training ('{program}'): {self._process.errorString()}")

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        if self._process is None:
            return
        self._read_stdout()
        self._read_stderr()
        self._handle(self._parser.finish())
        if self._stderr_pending:
            self._stderr_tail.append(self._stderr_pending)
        if self._cancelling:
            self._end(cancelled=True)
            return
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        if not crashed and exit_code == 0 and self._error is None:
            try:
                model_dir = produced_model_dir(self._job, self._done)
            except Exception as error:  # noqa: BLE001 - shown to the user, staging removed
                self._end(failure=str(error))
                return
            if model_dir.is_dir():
                self._end(model_dir=model_dir)
                return
            self._end(failure=f"training finished but wrote no model to '{model_dir}'")
            return
        self._end(failure=plain_failure_message(exit_code, crashed, self._error, list(self._stderr_tail)))

    def _end(self, model_dir: Path | None = None, failure: str | None = None, cancelled: bool = False) -> None:
        self._kill_timer.stop()
        process, job = self._process, self._job
        self._process = None
        if process is not None:
            process.deleteLater()
        if model_dir is not None:
            self.finished.emit(os.fspath(model_dir))
            return
        if job is not None:
            self._models.discard(job.staging_dir)  # no half version, no stray patient-image export
        if cancelled:
            self.cancelled.emit()
        else:
            self.failed.emit(failure or "training failed")
