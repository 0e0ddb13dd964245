"""Fine-tuning on a project's corrections as a separate `leaf` process (Qt-free half).

A job is: export the corrections into a staging folder, run ``leaf finetune`` (or ``leaf train
--preset cpu`` when the project has no model yet) with ``--progress-jsonl``, read its progress
lines, and on success rename the produced model into the next version. The process is separate
so that a crash or an out-of-memory in training cannot take the app down. The Qt runner
(leaf_app/ui/job_runner.py) drives this; so can anything else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from leaf_core.errors import LeafError
from leaf_core.project.store import CorrectionStore
from leaf_core.training.first_model import STAGE_ONE_AUTOENCODER, STAGE_ONE_MESSAGE, find_pretrained_autoencoder

DATASET_DIR = "dataset"
OUT_DIR = "out"
NEW_MODEL_PRESET = "cpu"


@dataclass(frozen=True)
class FinetuneSettings:
    """The few settings that matter, with defaults that work on a CPU."""

    steps: int = 300
    learning_rate: float | None = None  # None: the preset's (cpu 3e-4, paper 4e-5)
    batch_size: int = 2
    seed: int = 0
    val_fraction: float = 0.2
    resolution: int | None = None
    """Input size of a new model (None: the preset's); a fine-tune keeps its start model's."""


@dataclass(frozen=True)
class FinetuneJob:
    """Everything a runner needs: the command, and where its inputs and outputs live."""

    command: tuple[str, ...]
    kind: Literal["finetune", "train"]
    staging_dir: Path
    """models/.staging-*: deleted on cancel or failure, its model renamed into a version on success."""
    dataset_dir: Path
    out_dir: Path
    parent_version: str | None
    start_model: Path | None

    @property
    def notice(self) -> str | None:
        """A line for the user when the job does more than they may expect (stage one first)."""
        return STAGE_ONE_MESSAGE if STAGE_ONE_AUTOENCODER in self.command else None


# ------------------------------------------------------------------ progress
@dataclass(frozen=True)
class JobStarted:
    total_steps: int
    device: str


@dataclass(frozen=True)
class StepProgress:
    step: int
    total_steps: int
    loss: float
    lr: float | None


@dataclass(frozen=True)
class Validation:
    step: int
    val_dice: float


@dataclass(frozen=True)
class JobDone:
    model_dir: Path | None
    best_val_dice: float | None


@dataclass(frozen=True)
class JobError:
    message: str


ProgressEvent = JobStarted | StepProgress | Validation | JobDone | JobError


def parse_progress_line(line: str) -> ProgressEvent | None:
    """One event of the progress contract (docs/architecture.md), or None for anything else."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    try:
        return _event_from_record(record)
    except (KeyError, TypeError, ValueError):
        return None


def _event_from_record(record: dict) -> ProgressEvent | None:
    event = record.get("event")
    if record.get("stage") == "autoencoder" and event in ("val", "done"):
        return None  # stage one inside a first training: its Dice and folder are not the model's
    if event == "start":
        return JobStarted(total_steps=int(record["total_steps"]), device=str(record.get("device", "")))
    if event == "step":
        lr = record.get("lr")
        return StepProgress(
            step=int(record["step"]),
            total_steps=int(record["total_steps"]),
            loss=float(record["loss"]),
            lr=None if lr is None else float(lr),
        )
    if event == "val":
        return Validation(step=int(record["step"]), val_dice=float(record["val_dice"]))
    if event == "done":
        model_dir = record.get("model_dir")
        best = record.get("best_val_dice")
        return JobDone(
            model_dir=Path(model_dir) if model_dir else None,
            best_val_dice=None if best is None else float(best),
        )
    if event == "error":
        return JobError(message=str(record.get("message") or "training failed"))
    return None


class ProgressParser:
    """Turns a stream of stdout chunks into events; partial lines wait for their end, garbage is skipped."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str | bytes) -> list[ProgressEvent]:
        if isinstance(chunk, bytes):
            chunk = chunk.decode("utf-8", errors="replace")
        self._pending += chunk
        *lines, self._pending = self._pending.split("\n")
        return [e for e in map(parse_progress_line, lines) if e is not None]

    def finish(self) -> list[ProgressEvent]:
        """Events of a last line that had no newline (the process has ended)."""
        rest, self._pending = self._pending, ""
        event = parse_progress_line(rest)
        return [] if event is None else [event]


# ------------------------------------------------------------------- jobs
def prepare_job(
    store: CorrectionStore,
    start_from: str | Path | None,
    settings: FinetuneSettings = FinetuneSettings(),
    taesd_dir: str | Path | None = None,
    engine: Sequence[str] | None = None,
) -> FinetuneJob:
    """Export the corrections to a new staging folder and build the command that trains on them.

    Args:
        start_from: a version name of the project ("v2", a str), a model folder from elsewhere (a Path), or None to
            train a new model from the ``cpu`` preset (the first fine-tune of a fresh install).
        taesd_dir: a local TAESD folder; the new model starts from its pretrained autoencoder
            (used only when ``start_from`` is None).
        engine: how to run ``leaf`` (default: ``engine_command()``).
    """
    if isinstance(start_from, str):
        version = store.models.get(start_from)  # raises for an unknown name
        parent_version, start_model = version.name, version.path
    elif start_from is not None:
        parent_version, start_model = None, Path(start_from)
        if not start_model.is_dir():
            raise LeafError(f"cannot fine-tune from '{start_model}': no such model folder")
    else:
        parent_version, start_model = None, None
    if store.image_count() < 2:
        raise LeafError("fine-tuning needs at least 2 corrected images (one is kept aside to validate)")
    staging = store.models.allocate_next()
    try:
        dataset_dir = store.export_dataset(staging / DATASET_DIR, settings.val_fraction, settings.seed)
        out_dir = staging / OUT_DIR
        command = build_command(start_model, dataset_dir, out_dir, settings, taesd_dir, engine)
    except BaseException:
        store.models.discard(staging)
        raise
    return FinetuneJob(
        command=tuple(command),
        kind="finetune" if start_model is not None else "train",
        staging_dir=staging,
        dataset_dir=dataset_dir,
        out_dir=out_dir,
        parent_version=parent_version,
        start_model=start_model,
    )


def engine_command() -> list[str]:
    """How to run ``leaf``: the program bundled beside a frozen (PyInstaller) app, which has no
    ``-m``, else this Python with the engine's module."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("leaf.exe" if sys.platform == "win32" else "leaf"))]
    return [sys.executable, "-m", "leaf_core.cli.main"]


def build_command(
    start_model: Path | None,
    dataset_dir: Path,
    out_dir: Path,
    settings: FinetuneSettings,
    taesd_dir: str | Path | None = None,
    engine: Sequence[str] | None = None,
) -> list[str]:
    """``leaf finetune --model M ...``, or ``leaf train --preset cpu ...`` when there is no model."""
    command = list(engine) if engine is not None else engine_command()
    if start_model is not None:
        command += ["finetune", "--model", str(start_model)]
    else:
        command += ["train", "--preset", NEW_MODEL_PRESET]
        command += ["--autoencoder", find_pretrained_autoencoder(taesd_dir) or STAGE_ONE_AUTOENCODER]
        if settings.resolution is not None:
            command += ["--resolution", str(settings.resolution)]
    command += [
        "--data", str(dataset_dir),
        "--out", str(out_dir),
        "--steps", str(settings.steps),
        "--batch-size", str(settings.batch_size),
        "--seed", str(settings.seed),
        "--progress-jsonl",
    ]
    if settings.learning_rate is not None:
        command += ["--lr", repr(settings.learning_rate)]
    return command


def produced_model_dir(job: FinetuneJob, done: JobDone | None) -> Path:
    """The model folder a finished job produced.

    The ``done`` event names it; without one, `leaf train` writes the best model to OUT/model and
    `leaf finetune` writes to OUT itself. It must lie inside the job's staging folder.
    """
    if done is not None and done.model_dir is not None:
        # A relative path is relative to the process's folder, which runners set to the staging folder.
        candidate = done.model_dir if done.model_dir.is_absolute() else job.staging_dir / done.model_dir
    else:
        candidate = job.out_dir / "model" if job.kind == "train" else job.out_dir
    if not candidate.resolve().is_relative_to(job.staging_dir.resolve()):
        raise LeafError(f"training wrote its model outside the job folder ('{candidate}')")
    return candidate


def commit_job(store: CorrectionStore, job: FinetuneJob, done: JobDone | None, notes: str = "") -> str:
    """Make the finished job's model the project's next version (the current one is untouched)."""
    metrics = {} if done is None or done.best_val_dice is None else {"val_dice": done.best_val_dice}
    if not notes:
        start = job.parent_version or (str(job.start_model) if job.start_model else f"{NEW_MODEL_PRESET} preset")
        notes = f"{job.kind} from {start} on {store.image_count()} corrected images"
    try:
        return store.models.commit_version(produced_model_dir(job, done), job.parent_version, notes, metrics)
    except BaseException:
        store.models.discard(job.staging_dir)
        raise


def discard_job(store: CorrectionStore, job: FinetuneJob) -> None:
    """Remove everything a cancelled or failed job wrote; no version appears."""
    store.models.discard(job.staging_dir)


def plain_failure_message(exit_code: int | None, crashed: bool, error_event: JobError | None, stderr_tail: list[str]) -> str:
    """One sentence for the user from what a failed training process left behind."""
    if error_event is not None:
        return error_event.message
    last = next((line.strip() for line in reversed(stderr_tail) if line.strip()), "")
    if crashed or (exit_code is not None and exit_code < 0):
        hint = f" ({last})" if last else ""
        return f"training stopped unexpectedly; it may have run out of memory{hint}"
    if "out of memory" in last.lower() or last.startswith("MemoryError"):
        return f"training ran out of memory: {last}"
    if last.startswith("leaf "):  # the CLI's one-line LeafError: 'leaf finetune: message'
        return last.split(": ", 1)[-1]
    return f"training failed: {last}" if last else f"training failed (exit code {exit_code})"
