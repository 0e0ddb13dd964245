"""Fixtures for the engine: tiny models and tiny synthetic datasets in our folder layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaf_core.testing import save_tiny_model, write_synthetic_dataset


@pytest.fixture
def synthetic_dataset(tmp_path: Path) -> Path:
    return write_synthetic_dataset(tmp_path / "data")


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    return save_tiny_model(tmp_path / "tiny-model")
