"""The one place that configures logging, for the command line and the app."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A desktop app runs for months: keep the log bounded (the current file plus LOG_BACKUPS old ones).
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3


def user_data_dir() -> Path:
    """The per-user data folder (logs, settings, autosave): $LEAF_DATA_DIR, else the platform's."""
    override = os.environ.get("LEAF_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "leaf-annotate"


def default_log_file() -> Path:
    """Where the app writes its log: ``<user data folder>/leaf-annotate.log``."""
    return user_data_dir() / "leaf-annotate.log"


def configure_logging(log_file: Path | None = None, level: int = logging.INFO) -> None:
    """Log warnings to stderr and, when ``log_file`` is given, everything at ``level`` to that file.

    Calling it again replaces the handlers it added before (and closes their files).
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_leaf", False):
            root.removeHandler(handler)
            handler.close()
    # A windowed build (PyInstaller console=False on Windows, pythonw) has no stderr at all.
    if sys.stderr is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        console._leaf = True  # type: ignore[attr-defined]
        root.addHandler(console)
    if log_file is not None:
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        file_handler._leaf = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
