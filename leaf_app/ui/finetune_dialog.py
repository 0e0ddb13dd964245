"""The Fine-tune dialog: choose a start model and a few settings, train, compare, switch.

Training runs in a separate process through JobRunner, so the window stays responsive; cancel
leaves the project as it was. The new model becomes the next version; the current one is only
replaced when the user says so (or when there was none).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from leaf_core.errors import LeafError
from leaf_core.project.first_model import first_model_settings
from leaf_core.project.model_jobs import FinetuneSettings, ModelJob, commit_job, prepare_job
from leaf_core.project.store import CorrectionStore
from leaf_core.training.cadence import DEFAULT_BATCH_SIZE, FinetuneCadence
from leaf_app.ui.job_runner import JobRunner

NEW_MODEL_LABEL = "New model (cpu preset)"
JobFactory = Callable[[CorrectionStore, "str | Path | None", FinetuneSettings, "str | None"], ModelJob]


def training_device_label() -> str:
    """'CUDA: <GPU name>' when training will use a GPU, else 'CPU'."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"CUDA: {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - no usable torch/CUDA means the CPU
        pass
    return "CPU"


def _format_dice(dice: float | None) -> str:
    return "n/a" if dice is None else f"{dice:.3f}"


class FinetuneDialog(QDialog):
    """Fine-tune on the project's corrections. Emits versionCreated and currentVersionChanged."""

    versionCreated = Signal(str)
    currentVersionChanged = Signal(str)

    def __init__(
        self,
        store: CorrectionStore,
        new_model_autoencoder: str | None = None,
        job_factory: JobFactory = prepare_job,
        device_label: str | None = None,
        external_models: Sequence[tuple[str, Path]] = (),
        parent: QWidget | None = None,
    ) -> None:
        """external_models: (label, folder) of models outside the project to offer as a start
        (e.g. the installed model the window predicts with before the project has versions)."""
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on your corrections")
        self._store = store
        self._new_model_autoencoder = new_model_autoencoder
        self._external_models = list(external_models)
        self._job_factory = job_factory
        self._job: ModelJob | None = None
        self._new_version: str | None = None
        self._baseline_dice: float | None = None
        self._notes: list[str] = []
        self._close_when_cancelled = False
        self.runner = JobRunner(store.models, self)
        self.runner.started.connect(self._on_started)
        self.runner.progress.connect(self._on_progress)
        self.runner.validated.connect(self._on_validated)
        self.runner.noticed.connect(self._on_notice)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)

        self.start_from = QComboBox(objectName="start_from")
        self.steps = QSpinBox(objectName="steps", minimum=10, maximum=100_000, singleStep=50)
        # 0 shows as "preset default": the engine picks the start model's preset rate
        self.learning_rate = QDoubleSpinBox(objectName="learning_rate", decimals=6, minimum=0.0, maximum=1e-2)
        self.learning_rate.setSingleStep(1e-5)
        self.learning_rate.setSpecialValueText("preset default")
        self.batch_size = QSpinBox(objectName="batch_size", minimum=1, maximum=64)
        self.device = QLabel(device_label or training_device_label(), objectName="device")
        self.data_summary = QLabel(objectName="data_summary")
        self.data_summary.setWordWrap(True)
        self.no_model_note = QLabel(objectName="no_model_note")
        self.no_model_note.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Start from", self.start_from)
        form.addRow("Steps", self.steps)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Device", self.device)

        self.progress_bar = QProgressBar(objectName="progress_bar", minimum=0, maximum=1, value=0)
        self.step_label = QLabel("Step -", objectName="step_label")
        self.loss_label = QLabel("Loss -", objectName="loss_label")
        self.val_label = QLabel("Val Dice -", objectName="val_label")
        self.status = QLabel(objectName="status")
        self.status.setWordWrap(True)
        numbers = QHBoxLayout()
        for label in (self.step_label, self.loss_label, self.val_label):
            numbers.addWidget(label)

        self.result_box = QGroupBox("Result", objectName="result_box")
        self.result_label = QLabel(objectName="result_label")
        self.result_label.setWordWrap(True)
        self.switch_button = QPushButton("Switch to new version", objectName="switch_button")
        self.keep_button = QPushButton("Keep current", objectName="keep_button")
        self.switch_button.clicked.connect(self._switch_to_new)
        self.keep_button.clicked.connect(self.accept)
        result_buttons = QHBoxLayout()
        result_buttons.addStretch(1)
        result_buttons.addWidget(self.keep_button)
        result_buttons.addWidget(self.switch_button)
        result_layout = QVBoxLayout(self.result_box)
        result_layout.addWidget(self.result_label)
        result_layout.addLayout(result_buttons)
        self.result_box.hide()

        self.start_button = QPushButton("Start", objectName="start_button")
        self.cancel_button = QPushButton("Close", objectName="cancel_button")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.data_summary)
        layout.addWidget(self.no_model_note)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addLayout(numbers)
        layout.addWidget(self.status)
        layout.addWidget(self.result_box)
        layout.addLayout(buttons)
        self._fill_start_from()
        self._show_defaults()
        self.start_from.currentIndexChanged.connect(self._show_defaults)

    # ------------------------------------------------------------------ setup
    def _fill_start_from(self) -> None:
        models = self._store.models
        current = models.current_version()
        versions = models.list_versions()
        for version in reversed(versions):
            suffix = " - current" if version.name == current else ""
            self.start_from.addItem(version.label() + suffix, version.name)
        for label, folder in self._external_models:
            self.start_from.addItem(label, Path(folder))
        self.start_from.addItem(NEW_MODEL_LABEL, None)
        if current is not None:
            self.start_from.setCurrentIndex(self.start_from.findData(current))
        if versions or self._external_models:
            self.no_model_note.hide()
        else:
            autoencoder = (f"the autoencoder in '{self._new_model_autoencoder}'" if self._new_model_autoencoder
                           else "the TAESD autoencoder that ships with LEAF Annotate")
            self.no_model_note.setText(f"This project has no model yet: training starts a new one from the cpu preset, with {autoencoder}.")
        count = self._store.image_count()
        self.data_summary.setText(
            f"Trains on the {count} corrected image{'s' if count != 1 else ''} of this project; "
            "a fixed part of them is kept aside to measure validation Dice."
        )
        if count < 2:
            self.start_button.setEnabled(False)
            self.status.setText("Fine-tuning needs at least 2 corrected images. Save corrections with Ctrl+S first.")

    def defaults(self) -> FinetuneSettings:
        """What a job from the chosen start runs with: a new model gets the first-model recipe,
        a fine-tune the fine-tune cadence."""
        if self.start_from.currentData() is None:
            return first_model_settings(self._store.image_count())
        return FinetuneSettings(steps=FinetuneCadence.steps, batch_size=DEFAULT_BATCH_SIZE)

    def _show_defaults(self) -> None:
        defaults = self.defaults()
        self.steps.setValue(defaults.steps)
        self.learning_rate.setValue(defaults.learning_rate or 0.0)
        self.batch_size.setValue(defaults.batch_size)

    def settings(self) -> FinetuneSettings:
        """The defaults of the chosen start, with the numbers as the user set them."""
        return dataclasses.replace(self.defaults(), steps=self.steps.value(),
                                   learning_rate=self.learning_rate.value() or None, batch_size=self.batch_size.value())

    # -------------------------------------------------------------- actions
    def start(self) -> None:
        """Export the corrections and start training in a separate process."""
        if self.runner.is_running():
            return
        try:
            job = self._job_factory(self._store, self.start_from.currentData(), self.settings(), self._new_model_autoencoder)
        except LeafError as error:
            self._show_error(str(error))
            return
        self._job = job
        self._new_version = None
        self._baseline_dice = None
        self._notes = []  # the job's notices, kept in the status line once it finished
        self.result_box.hide()
        self.status.setStyleSheet("")
        self.status.setText("Starting training...")
        self.progress_bar.setRange(0, 0)  # busy until the first step arrives
        for widget in (self.start_from, self.steps, self.learning_rate, self.batch_size, self.start_button):
            widget.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.runner.start(job)

    def cancel_job(self) -> None:
        self.status.setText("Cancelling...")
        self.runner.cancel()

    def reject(self) -> None:
        """Close; while training, cancel first and close once it has stopped."""
        if self.runner.is_running():
            self._close_when_cancelled = True
            self.cancel_job()
            return
        super().reject()

    # --------------------------------------------------------------- runner
    def _on_started(self, total_steps: int, device: str) -> None:
        self.progress_bar.setRange(0, max(total_steps, 1))
        notice = f"{self._job.notice} " if self._job is not None and self._job.notice else ""
        self.status.setText(f"{notice}Training on {device or 'the ' + self.device.text()}...")

    def _on_notice(self, message: str) -> None:
        self._notes.append(f"Note: {message.rstrip('.')}.")
        self.status.setText(f"{self.status.text()} {self._notes[-1]}")

    def _on_progress(self, step: int, total_steps: int, loss: float) -> None:
        self.progress_bar.setRange(0, max(total_steps, 1))
        self.progress_bar.setValue(step)
        self.step_label.setText(f"Step {step} / {total_steps}")
        self.loss_label.setText(f"Loss {loss:.4f}")

    def _on_validated(self, step: int, dice: float) -> None:
        if step == 0:  # the start model on this very val split: the fair baseline
            self._baseline_dice = dice
        self.val_label.setText(f"Val Dice {dice:.3f} (step {step})")

    def _on_finished(self, model_dir: str) -> None:
        models = self._store.models
        try:
            version = commit_job(self._store, self._job, self.runner.done_event)
        except LeafError as error:
            self._on_failed(str(error))
            return
        self._new_version = version
        self.versionCreated.emit(version)
        self.start_from.clear()
        self._fill_start_from()
        self.progress_bar.setValue(self.progress_bar.maximum())
        self._reset_controls(close_label="Close")
        new_dice = models.get(version).val_dice
        current = models.current()
        self.status.setText(" ".join([f"Training finished: {version} was added to the project.", *self._notes]))
        if current is None:
            models.set_current(version)
            self.currentVersionChanged.emit(version)
            self.result_label.setText(
                f"New version {version}: val Dice {_format_dice(new_dice)}. It is now the model in use."
            )
            self.switch_button.hide()
            self.keep_button.setText("Done")
        else:
            baseline = self._baseline_dice if self._baseline_dice is not None else current.val_dice
            self.result_label.setText(
                f"New version {version}: val Dice {_format_dice(new_dice)} vs current {current.name}: "
                f"{_format_dice(baseline)}. Switch to the new version?"
            )
            self.switch_button.setText(f"Switch to {version}")
            self.switch_button.show()
            self.keep_button.setText(f"Keep {current.name}")
        self.result_box.show()

    def _on_failed(self, message: str) -> None:
        self._reset_controls(close_label="Close")
        self._show_error(f"Training failed: {message}. The project is unchanged.")

    def _on_cancelled(self) -> None:
        self._reset_controls(close_label="Close")
        self.status.setText("Training cancelled. The project is unchanged.")
        if self._close_when_cancelled:
            self._close_when_cancelled = False
            super().reject()

    def _switch_to_new(self) -> None:
        if self._new_version is None:
            return
        self._store.models.set_current(self._new_version)
        self.currentVersionChanged.emit(self._new_version)
        self.accept()

    def _reset_controls(self, close_label: str) -> None:
        self.progress_bar.setRange(0, max(self.progress_bar.maximum(), 1))
        for widget in (self.start_from, self.steps, self.learning_rate, self.batch_size, self.start_button):
            widget.setEnabled(True)
        self.cancel_button.setText(close_label)

    def _show_error(self, message: str) -> None:
        self.status.setStyleSheet("color: #b00020;")
        self.status.setText(message)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    @property
    def new_version(self) -> str | None:
        """The version this dialog created, if training finished."""
        return self._new_version
