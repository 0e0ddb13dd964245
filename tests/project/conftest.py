"""Fixtures of the project tests: a store with a few corrections, fake `leaf` jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from project_helpers import make_png, mask_for, write_fake_job_script

from leaf_core.project.store import CorrectionStore


@pytest.fixture
def filled_store(tmp_path: Path):
    """A project with three corrected images and no model version."""
    folder = tmp_path / "images"
    folder.mkdir()
    with CorrectionStore.create(tmp_path / "project") as store:
        for i in range(3):
            store.save_correction(make_png(folder / f"img{i}.png", i), mask_for(i), mask_for(i + 50), None, "tester")
        yield store


@pytest.fixture
def fake_job_command(tmp_path: Path):
    """``fake_job_command(mode, out_dir)``: a command that behaves like `leaf finetune --progress-jsonl`."""
    script = write_fake_job_script(tmp_path)

    def command(mode: str, out_dir: Path) -> tuple[str, ...]:
        return (sys.executable, str(script), mode, str(out_dir))

    return command
