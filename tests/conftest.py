"""Shared test setup: no network, no display, a throwaway data folder, few CPU threads.

The environment is set at import time, before any test module imports Qt, torch or the
Hugging Face libraries, because those read it once when they load.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Data and weights live beside the repository, never inside it (see ../shared/data/README.md).
SHARED = REPO_ROOT.parent / "shared"

# Tests never reach the hub: weights come from ../shared or are built by the test.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# No display in CI; a developer may still ask for a real one (QT_QPA_PLATFORM=xcb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# CI machines have 2 cores shared with other jobs. torch reads OMP_NUM_THREADS when it loads,
# so this covers modules that import torch lazily; pytest_collection_finish covers the rest.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
# Predictors default to torch in tests: exporting each test model for OpenVINO would take ~20 s;
# tests/engine/test_inference_engine*.py ask for the engine themselves.
os.environ.setdefault("LEAF_ENGINE", "torch")
# Settings, logs and autosaves go to a folder of this session, never the user's own.
_SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="leaf-test-data-"))
os.environ["LEAF_DATA_DIR"] = str(_SESSION_DATA_DIR)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Only when a test module already imported torch: importing it here would cost every run ~2 s.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the shared data and weights folder {SHARED}, which is absent")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_DATA_DIR, ignore_errors=True)


def require_shared(*parts: str) -> Path:
    """``SHARED / parts``, or skip the calling test with the path that is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (from the shared folder beside the repository), which is absent")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder beside the repository (data/, weights/); skips the test when absent."""
    return require_shared()


@pytest.fixture(scope="session")
def shared_path():
    """``shared_path("data", "kvasir-seg")``: a path inside the shared folder, or skip the test."""
    return require_shared


@pytest.fixture(scope="session")
def leaf_data_dir() -> Path:
    """This session's user data folder ($LEAF_DATA_DIR)."""
    return _SESSION_DATA_DIR
