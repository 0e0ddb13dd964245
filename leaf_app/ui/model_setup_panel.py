"""The banner above the image while a task has no model: the three ways to get one, in plain words.

Only widgets; ``ModelSetup`` (model_setup.py) decides what is shown and what the buttons do.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class ModelSetupPanel(QFrame):
    """Title, explanation, three buttons; while a job runs, a progress bar, time left and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="model_setup_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#model_setup_panel { background: #f3f6fa; border: 1px solid #b8c4d4; border-radius: 4px; }")
        self.title = QLabel(objectName="setup_title")
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.explanation = QLabel(objectName="setup_explanation")
        self.explanation.setWordWrap(True)
        self.open_button = QPushButton("Open a model folder…", objectName="open_model_button")
        self.import_button = QPushButton("Import released LEAF weights…", objectName="import_weights_button")
        self.train_button = QPushButton("Train a first model", objectName="train_first_model_button")
        self.progress_bar = QProgressBar(objectName="setup_progress", minimum=0, maximum=1)
        self.progress_label = QLabel(objectName="setup_progress_label")
        self.cancel_button = QPushButton("Cancel", objectName="setup_cancel_button")

        buttons = QHBoxLayout()
        for button in (self.open_button, self.import_button, self.train_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        progress = QHBoxLayout()
        progress.addWidget(self.progress_bar, 1)
        progress.addWidget(self.progress_label)
        progress.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.explanation)
        layout.addLayout(buttons)
        layout.addLayout(progress)
        self.show_progress(False)

    def show_progress(self, running: bool) -> None:
        """Buttons while idle, the progress row while a job runs."""
        for button in (self.open_button, self.import_button, self.train_button):
            button.setVisible(not running)
        for widget in (self.progress_bar, self.progress_label, self.cancel_button):
            widget.setVisible(running)
