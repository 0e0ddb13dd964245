"""The benchmark scripts as modules, and the TAESD weights their tiny runs need."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO_ROOT / "benchmarks"
TAESD = REPO_ROOT.parent / "shared" / "weights" / "taesd"


@pytest.fixture(scope="session")
def load_script():
    """``load_script("reproduce")``: the script as a module (benchmarks/ is not a package; its
    scripts import ``common``)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module


@pytest.fixture(scope="session")
def taesd() -> Path:
    """The TAESD folder in ../shared/weights, or skip the test."""
    if not (TAESD / "taesd_encoder.safetensors").exists():
        pytest.skip(f"needs TAESD weights in {TAESD}")
    return TAESD
