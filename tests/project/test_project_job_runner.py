"""JobRunner with fake `leaf` jobs: progress parsed, failures reported plainly, cancel leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from leaf_app.ui import job_runner as job_runner_module  # noqa: E402
from leaf_app.ui.job_runner import JobRunner  # noqa: E402
from leaf_core.project.model_jobs import ModelJob, commit_job  # noqa: E402

TIMEOUT_MS = 15000


def _fake_job(store, command_for, mode: str, kind: str = "finetune") -> ModelJob:
    staging = store.models.allocate_next()
    out = staging / "out"
    return ModelJob(
        command=command_for(mode, out),
        kind=kind,
        staging_dir=staging,
        dataset_dir=staging / "dataset",
        out_dir=out,
        parent_version=None,
        start_model=None,
    )


@pytest.fixture
def runner(qtbot, filled_store):
    runner = JobRunner(filled_store.models)
    yield runner
    if runner.is_running():  # never leave a training process behind
        runner.cancel()
        runner.wait_until_stopped()


@pytest.mark.parametrize("kind, mode", [("finetune", "ok"), ("train", "ok-train")])
def test_successful_job_reports_progress_and_its_model(qtbot, runner, filled_store, fake_job_command, kind, mode) -> None:
    job = _fake_job(filled_store, fake_job_command, mode, kind)
    steps, validations, started, notices = [], [], [], []
    runner.started.connect(lambda total, device: started.append((total, device)))
    runner.noticed.connect(notices.append)
    runner.progress.connect(lambda step, total, loss: steps.append((step, total, loss)))
    runner.validated.connect(lambda step, dice: validations.append((step, dice)))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS) as finished:
        runner.start(job)
    assert started == [(4, "cpu")]
    assert steps == [(1, 4, 1.0), (2, 4, 0.5), (3, 4, pytest.approx(1 / 3)), (4, 4, 0.25)]
    assert validations == [(0, 0.5), (4, 0.75)]  # the second arrived in two pieces
    assert notices == ["alignment off: no teacher; training without feature alignment"]
    expected = job.out_dir / "model" if kind == "train" else job.out_dir
    assert Path(finished.args[0]) == expected
    assert not runner.is_running()

    version = commit_job(filled_store, job, runner.done_event)
    assert version == "v1" and filled_store.models.get("v1").val_dice == 0.75
    assert not job.staging_dir.exists()


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("crash", "training failed: ValueError: boom"),
        ("oom", "training ran out of memory: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("error", "cannot read 'x.png': no pixel data"),
        ("killed", "training stopped unexpectedly"),
        ("no-model", "wrote no model"),
    ],
)
def test_failing_job_reports_a_plain_error_and_leaves_no_version(
    qtbot, runner, filled_store, fake_job_command, mode, expected
) -> None:
    job = _fake_job(filled_store, fake_job_command, mode)
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT_MS) as failed:
        runner.start(job)
    assert expected in failed.args[0]
    assert "Traceback" not in failed.args[0]
    assert not job.staging_dir.exists()
    assert filled_store.models.list_versions() == []


def test_program_that_cannot_start_fails(qtbot, runner, filled_store, tmp_path) -> None:
    job = _fake_job(filled_store, lambda mode, out: (str(tmp_path / "no-such-python"), "x"), "ok")
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT_MS) as failed:
        runner.start(job)
    assert "cannot start training" in failed.args[0]
    assert not job.staging_dir.exists()


@pytest.mark.parametrize("mode", ["sleep", "stubborn"])
def test_cancel_stops_the_job_and_leaves_no_version(qtbot, runner, filled_store, fake_job_command, mode, monkeypatch) -> None:
    monkeypatch.setattr(job_runner_module, "CANCEL_GRACE_MS", 300)  # "stubborn" ignores SIGTERM: killed after it
    job = _fake_job(filled_store, fake_job_command, mode)
    with qtbot.waitSignal(runner.progress, timeout=TIMEOUT_MS):
        runner.start(job)
    with pytest.raises(RuntimeError, match="already running"):
        runner.start(job)
    with qtbot.waitSignal(runner.cancelled, timeout=TIMEOUT_MS):
        runner.cancel()
    assert not runner.is_running()
    assert not job.staging_dir.exists()
    assert filled_store.models.list_versions() == []
    assert list(filled_store.models.root.glob(".staging-*")) == []



def test_real_finetune_of_a_tiny_model_through_the_runner(qtbot, runner, filled_store, tmp_path) -> None:
    """The whole loop with the engine: export, `leaf finetune` in a process, a new version that loads."""
    pytest.importorskip("leaf_core.cli.cmd_finetune", reason="`leaf finetune` is not there yet")
    from leaf_core.model.leaf_model import LeafModel
    from leaf_core.project.model_jobs import FinetuneSettings, prepare_job
    from leaf_core.testing import save_tiny_model

    start = save_tiny_model(tmp_path / "tiny")
    job = prepare_job(filled_store, start, FinetuneSettings(steps=3, batch_size=1))
    steps = []
    runner.progress.connect(lambda step, total, loss: steps.append(step))
    failures = []
    runner.failed.connect(failures.append)
    with qtbot.waitSignals([runner.finished], raising=False, timeout=120_000) as blocker:
        runner.start(job)
        qtbot.waitUntil(lambda: not runner.is_running(), timeout=120_000)
    assert not failures, failures[0]
    assert blocker.signal_triggered and steps == [1, 2, 3]
    version = commit_job(filled_store, job, runner.done_event)
    LeafModel.from_pretrained(filled_store.models.get(version).path)
