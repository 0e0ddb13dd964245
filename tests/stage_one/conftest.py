"""Fixtures for stage one: a handful of real masks and images from ../shared/data, and one thread.

The shared CI machine has 2 cores used by several jobs at once; small convolutions then run
several times faster on one thread than on two that fight for the cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from stage_one_helpers import KVASIR, write_real_subset


@pytest.fixture(scope="session")
def real_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (KVASIR / "splits.json").exists():
        pytest.skip(f"real data not found at {KVASIR} (../shared beside the repo)")
    return write_real_subset(tmp_path_factory.mktemp("kvasir-subset"))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
