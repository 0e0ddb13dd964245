"""Model versions, the fine-tune command line and the progress parser (no Qt)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from project_helpers import write_fake_model

from leaf_core.errors import LeafError
from leaf_core.project.job_progress import (
    JobDone,
    JobError,
    JobNotice,
    JobStarted,
    ProgressParser,
    StepProgress,
    Validation,
    parse_progress_line,
)
from leaf_core.project.model_jobs import (
    FinetuneSettings,
    commit_job,
    plain_failure_message,
    prepare_job,
    produced_model_dir,
)
from leaf_core.project.versions import ModelVersions


def test_project_core_does_not_import_qt() -> None:
    code = (
        "import sys, leaf_core.project.store, leaf_core.project.versions, leaf_core.project.model_jobs\n"
        "assert 'PySide6' not in sys.modules, 'leaf_core.project pulled in Qt'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_versions_commit_list_and_current(tmp_path: Path) -> None:
    models = ModelVersions(tmp_path / "models")
    assert models.list_versions() == [] and models.current_version() is None

    staging = models.allocate_next()
    write_fake_model(staging / "out", val_dice=0.8)
    (staging / "dataset").mkdir()
    assert models.commit_version(staging / "out", None, "first", {"val_dice": 0.1}) == "v1"
    assert not staging.exists()

    staging = models.allocate_next()
    write_fake_model(staging / "out" / "model")  # `leaf train` layout, no metrics in the card
    (staging / "out" / "train_log.jsonl").write_text("{}\n")
    assert models.commit_version(staging / "out" / "model", "v1", "second", {"val_dice": 0.9}) == "v2"
    assert (models.root / "v2" / "train_log.jsonl").is_file()

    v1, v2 = models.list_versions()
    assert (v1.name, v1.val_dice, v1.parent, v1.notes) == ("v1", 0.8, None, "first")  # the card wins
    assert (v2.name, v2.val_dice, v2.parent) == ("v2", 0.9, "v1")
    assert v2.label() == "v2 (val Dice 0.900)"

    assert models.current_version() is None
    models.set_current("v1")
    assert models.current_version() == "v1" and models.current().path == v1.path
    with pytest.raises(LeafError, match="no model version 'v7'"):
        models.set_current("v7")
    assert models.current_version() == "v1"


def test_failed_or_cancelled_staging_leaves_no_version(tmp_path: Path) -> None:
    models = ModelVersions(tmp_path / "models")
    staging = models.allocate_next()
    (staging / "out").mkdir()
    with pytest.raises(LeafError, match="no model_card.json"):
        models.commit_version(staging / "out", None)
    models.discard(staging)
    assert models.list_versions() == [] and list(models.root.glob(".staging-*")) == []
    with pytest.raises(LeafError, match="not a staging folder"):
        models.commit_version(write_fake_model(tmp_path / "elsewhere"), None)


def test_progress_parser_handles_partial_lines_and_garbage() -> None:
    parser = ProgressParser()
    events = parser.feed('{"event": "start", "total_steps": 3, "device": "cpu"}\nWarning: noise\n{"event": "st')
    assert events == [JobStarted(3, "cpu")]
    events = parser.feed(b'ep", "step": 1, "total_steps": 3, "loss": 0.5, "lr": 1e-4}\n[1, 2]\n{"event": "val"}\n')
    assert events == [StepProgress(1, 3, 0.5, 1e-4)]  # the val line lacks its fields: skipped
    events = parser.feed('{"event": "val", "step": 3, "val_dice": 0.7}\n{"event": "done", "model_dir": "/x", "best_val_dice": 0.7}')
    assert events == [Validation(3, 0.7)]
    assert parser.finish() == [JobDone(Path("/x"), 0.7)]
    assert parse_progress_line('{"event": "error", "message": "disk full"}') == JobError("disk full")
    assert parse_progress_line('{"event": "mystery"}') is None
    assert parse_progress_line('{"event": "alignment_off", "message": "alignment off: x"}') == JobNotice("alignment off: x")
    assert parse_progress_line('{"event": "notice", "message": "stage one first"}') == JobNotice("stage one first")


def test_plain_failure_messages() -> None:
    tail = ["Traceback (most recent call last):", '  File "x"', "ValueError: boom", ""]
    assert plain_failure_message(1, False, None, tail) == "training failed: ValueError: boom"
    assert plain_failure_message(2, False, JobError("no images"), tail) == "no images"
    assert "out of memory" in plain_failure_message(1, False, None, ["RuntimeError: CUDA out of memory."])
    assert "stopped unexpectedly" in plain_failure_message(9, True, None, [])
    assert plain_failure_message(2, False, None, ["leaf finetune: cannot read 'a.png': empty"]) == "cannot read 'a.png': empty"


def test_prepare_job_builds_the_command_and_exports(filled_store, tmp_path: Path) -> None:
    settings = FinetuneSettings(steps=50, learning_rate=1e-4, batch_size=1)
    job = prepare_job(filled_store, None, settings, autoencoder=str(tmp_path / "my-autoencoder"))
    assert job.kind == "train" and job.parent_version is None
    assert job.command[1:5] == ("-m", "leaf_core.cli.main", "train", "--preset")
    command = list(job.command)
    assert command[command.index("--autoencoder") + 1] == str(tmp_path / "my-autoencoder")
    assert command[command.index("--data") + 1] == str(job.dataset_dir)
    assert command[command.index("--out") + 1] == str(job.out_dir)
    assert command[command.index("--steps") + 1] == "50" and "--progress-jsonl" in command
    assert command[command.index("--lr") + 1] == "0.0001"
    default = prepare_job(filled_store, None, FinetuneSettings()).command
    assert "--lr" not in default and "--autoencoder" not in default  # the preset's: the embedded TAESD
    splits = json.loads((job.dataset_dir / "splits.json").read_text())
    assert len(splits["train"]) + len(splits["val"]) == 3 and splits["val"]
    assert job.staging_dir.parent == filled_store.models.root
    assert produced_model_dir(job, None) == job.out_dir / "model"

    staging = filled_store.models.allocate_next()
    write_fake_model(staging / "m")
    filled_store.models.commit_version(staging / "m", None)
    job2 = prepare_job(filled_store, "v1", settings)
    assert job2.kind == "finetune" and job2.parent_version == "v1" and "--autoencoder" not in job2.command
    command = list(job2.command)
    assert command[3] == "finetune" and command[command.index("--model") + 1] == str(filled_store.models.root / "v1")
    assert produced_model_dir(job2, None) == job2.out_dir
    with pytest.raises(LeafError, match="outside the job folder"):
        produced_model_dir(job2, JobDone(tmp_path / "elsewhere", None))

    write_fake_model(job2.out_dir, val_dice=0.66)
    assert commit_job(filled_store, job2, JobDone(job2.out_dir, 0.66)) == "v2"
    v2 = filled_store.models.get("v2")
    assert v2.parent == "v1" and "finetune from v1" in v2.notes
    assert not job2.staging_dir.exists()  # the exported patient images went with it

    with pytest.raises(LeafError, match="no model version 'v9'"):
        prepare_job(filled_store, "v9", settings)
