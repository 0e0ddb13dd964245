"""Fixtures for the app tests: offscreen Qt, isolated settings and data folder, test images."""

from __future__ import annotations

import os

# Before anything imports Qt or huggingface.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from app_helpers import write_rgb  # noqa: E402


@pytest.fixture(autouse=True)
def leaf_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, log and autosave of each test go to its own folder."""
    folder = tmp_path / "leaf-data"
    monkeypatch.setenv("LEAF_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def dialogs_never_wait(monkeypatch):
    """A message box no test answered fails the test at once instead of waiting for a click.

    The one exception is the once-per-project burned-in text warning, answered "Save" as a user
    who has read it would: tests that save corrections of photos are not about it, and
    tests/app/test_redact_tool.py (and test_first_run.py) answer it themselves.
    """
    from PySide6.QtWidgets import QMessageBox

    from leaf_app.ui.redact_tool import WARNING

    burned_in = WARNING.split("{name}")[1][:40]

    def unanswered(kind):
        def box(_parent, title, text, *args, **kwargs):
            if kind == "warning" and burned_in in text:
                return QMessageBox.StandardButton.Save
            raise AssertionError(f"unanswered QMessageBox.{kind} {title!r}: {text}")
        return box

    for kind in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, kind, unanswered(kind))


@pytest.fixture(autouse=True)
def no_threads_left_behind(monkeypatch):
    """Fail a test that leaves a thread, a QThread or a child process (a training job) running."""
    from PySide6.QtCore import QProcess, QThread, QThreadPool

    started: list = []
    for cls in (QThread, QProcess):
        original = cls.start

        def start(self, *args, _original=original, **kwargs):
            started.append(self)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "start", start)
    before = {t.ident for t in threading.enumerate()}
    yield
    QThreadPool.globalInstance().waitForDone(5000)
    left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon]
    assert not left, f"threads left running: {left}"
    running = [obj for obj in started if _still_running(obj)]
    for obj in running:  # stop them so the next test starts clean, then fail this one
        obj.kill() if isinstance(obj, QProcess) else obj.wait(5000)
    assert not running, f"left running: {running}"


def _still_running(obj) -> bool:
    from PySide6.QtCore import QProcess

    try:
        return obj.state() != QProcess.ProcessState.NotRunning if isinstance(obj, QProcess) else obj.isRunning()
    except RuntimeError:  # the C++ object is already deleted: it cannot be running
        return False


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A colonoscopy-looking folder with three small RGB images."""
    folder = tmp_path / "kvasir-test"
    for i in range(3):
        write_rgb(folder / f"img{i}.png", seed=i)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random LEAF model folder (its masks are deterministic, usually empty)."""
    from leaf_core.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def make_window(qtbot, monkeypatch):
    """Build a shown MainWindow; at the end it closes without questions."""
    from PySide6.QtWidgets import QMessageBox

    from leaf_app.ui.main_window import MainWindow

    windows = []

    def make(**kwargs):
        window = MainWindow(**kwargs)  # not qtbot.addWidget: it would close before our patch below
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=3000)  # shortcuts need an active window
        window.canvas.setFocus()
        windows.append(window)
        return window

    yield make
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    for window in windows:
        window.close()
        window.deleteLater()
