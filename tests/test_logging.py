"""The one logging setup: a log file in the user's data folder, warnings on stderr."""

from __future__ import annotations

import logging
import logging.handlers
import sys

import pytest

from leaf_core import logging_setup
from leaf_core.logging_setup import configure_logging, default_log_file, user_data_dir


def _leaf_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_leaf", False)]


@pytest.fixture(autouse=True)
def restore_root_logger():
    """Give the root logger back as pytest set it up, and close any file we opened."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in _leaf_handlers():
        root.removeHandler(handler)
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_user_data_dir_honours_leaf_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LEAF_DATA_DIR", str(tmp_path / "data"))
    assert user_data_dir() == tmp_path / "data"


def test_user_data_dir_defaults_to_the_platform_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("LEAF_DATA_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "leaf-annotate"


def test_tests_never_write_to_the_users_own_data_folder(leaf_data_dir):
    assert user_data_dir() == leaf_data_dir
    assert leaf_data_dir.name.startswith("leaf-test-data-")


def test_app_log_file_is_written_in_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("LEAF_DATA_DIR", str(tmp_path / "data"))
    log_file = default_log_file()
    assert log_file == tmp_path / "data" / "leaf-annotate.log"
    assert not log_file.parent.exists()  # configure_logging makes the folder

    configure_logging(log_file)
    logging.getLogger("leaf_app.canvas").info("opened %s", "scan7.dcm")
    logging.getLogger("leaf_core.io").debug("below the level: not written")
    logging.getLogger("leaf_core.training").error("cannot read 'scan7.dcm': no pixel data")
    for handler in _leaf_handlers():
        handler.flush()

    text = log_file.read_text(encoding="utf-8")
    assert "INFO leaf_app.canvas: opened scan7.dcm" in text
    assert "ERROR leaf_core.training: cannot read 'scan7.dcm': no pixel data" in text
    assert "below the level" not in text


def test_only_warnings_reach_stderr(tmp_path, capsys):
    configure_logging(tmp_path / "leaf.log")
    logging.getLogger("leaf_core").info("progress detail")
    logging.getLogger("leaf_core").warning("checkpoint missing, starting fresh")
    err = capsys.readouterr().err
    assert "WARNING: checkpoint missing, starting fresh" in err
    assert "progress detail" not in err


def test_configuring_twice_replaces_handlers_and_closes_the_old_file(tmp_path):
    configure_logging(tmp_path / "first.log")
    first_file = next(h for h in _leaf_handlers() if isinstance(h, logging.FileHandler))
    configure_logging(tmp_path / "second.log", level=logging.DEBUG)
    logging.getLogger("leaf_core").debug("only in the second")
    for handler in _leaf_handlers():
        handler.flush()

    assert len(_leaf_handlers()) == 2  # one console, one file
    assert first_file.stream is None  # closed
    assert "only in the second" not in (tmp_path / "first.log").read_text(encoding="utf-8")
    assert "only in the second" in (tmp_path / "second.log").read_text(encoding="utf-8")


def test_log_file_is_bounded(monkeypatch, tmp_path):
    monkeypatch.setattr(logging_setup, "LOG_MAX_BYTES", 2000)
    log_file = tmp_path / "leaf.log"
    configure_logging(log_file)
    for i in range(200):
        logging.getLogger("leaf_app").info("line %d of a long session", i)
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["leaf.log", "leaf.log.1", "leaf.log.2", "leaf.log.3"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def test_windowed_build_without_stderr_still_logs_to_file(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stderr", None)
    configure_logging(tmp_path / "leaf.log")
    logging.getLogger("leaf_app").warning("no console here")
    for handler in _leaf_handlers():
        handler.flush()
    assert [type(h) for h in _leaf_handlers()] == [logging.handlers.RotatingFileHandler]
    assert "no console here" in (tmp_path / "leaf.log").read_text(encoding="utf-8")
