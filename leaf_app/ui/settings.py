"""What the app remembers between runs, in an INI file in the user data folder.

The file lives in ``user_data_dir()`` (which honours $LEAF_DATA_DIR), so tests and portable
installs keep their settings apart from the user's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from leaf_core.logging_setup import user_data_dir
from leaf_core.tasks import Task

ORGANIZATION = "LEAF"
APPLICATION = "LEAF Annotate"


class AppSettings:
    """Typed access to the settings file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or user_data_dir() / "settings.ini"
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def model_dir(self, task: Task) -> Path | None:
        value = self.qsettings.value(f"models/{task.name}", "")
        return Path(str(value)) if value else None

    def set_model_dir(self, task: Task, folder: Path) -> None:
        self.qsettings.setValue(f"models/{task.name}", str(folder))
        self.qsettings.sync()

    def value(self, key: str, default, kind=str):  # noqa: ANN001, ANN201
        raw = self.qsettings.value(key, default)
        try:
            return kind(raw)
        except (TypeError, ValueError):
            return default

    def set_value(self, key: str, value) -> None:  # noqa: ANN001
        self.qsettings.setValue(key, value)
