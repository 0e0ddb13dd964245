"""Jobs that give a project a new model version, each a separate `leaf` process (Qt-free half).

Three kinds: ``finetune`` (``leaf finetune`` from a version or a model folder), ``train`` (``leaf
train --preset cpu``, a project's first model) and ``import`` (``leaf import-weights``, released
weights). A training job exports the corrections into a staging folder first. Each runs with
``--progress-jsonl`` (read back by ``job_progress``), and on success its model is renamed into
the next version. The process is separate so that a crash or an out-of-memory cannot take the
app down. The Qt runner (leaf_app/ui/job_runner.py) drives this; so can anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from leaf_core.errors import LeafError
from leaf_core.project.job_progress import JobDone, JobError
from leaf_core.project.store import CorrectionStore
from leaf_core.training.stage_one import STAGE_ONE_AUTOENCODER, STAGE_ONE_MESSAGE

DATASET_DIR = "dataset"
OUT_DIR = "out"
NEW_MODEL_PRESET = "cpu"


@dataclass(frozen=True)
class FinetuneSettings:
    """The few settings a job is told; None leaves one to the command (`leaf finetune`'s cadence,
    `leaf train`'s and the preset's defaults), so every default has one home."""

    steps: int | None = None
    learning_rate: float | None = None  # None: the preset's (cpu 3e-4, paper 4e-5)
    batch_size: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    resolution: int | None = None
    """Input size of a new model (None: the preset's); a fine-tune keeps its start model's."""
    warmup_steps: int | None = None  # None: the command's default
    val_every: int | None = None  # None: the command's default
    keep_best_from: float | None = None
    """Share of the steps from which the best val model is kept (None: every validation counts)."""
    frozen_image_encoder_layers: int | None = None  # None: the command's default (all layers train)
    quarter_turns: bool = False  # random quarter turns besides the flips
    scale_jitter: float | None = None  # None: the command's default (none)
    colour_jitter: float | None = None  # None: the command's default (none)


@dataclass(frozen=True)
class ModelJob:
    """Everything a runner needs: the command, and where its inputs and outputs live."""

    command: tuple[str, ...]
    kind: Literal["finetune", "train", "import"]
    staging_dir: Path
    """models/.staging-*: deleted on cancel or failure, its model renamed into a version on success."""
    dataset_dir: Path | None  # the exported corrections (None for an import)
    out_dir: Path
    parent_version: str | None
    start_model: Path | None
    notes: str = ""  # what the version's notes will say

    @property
    def notice(self) -> str | None:
        """A line for the user when the job does more than they may expect (stage one first)."""
        return STAGE_ONE_MESSAGE if STAGE_ONE_AUTOENCODER in self.command else None


# ------------------------------------------------------------------- jobs
def prepare_job(
    store: CorrectionStore,
    start_from: str | Path | None,
    settings: FinetuneSettings = FinetuneSettings(),
    autoencoder: str | Path | None = None,
    engine: Sequence[str] | None = None,
) -> ModelJob:
    """Export the corrections to a new staging folder and build the command that trains on them.

    Args:
        start_from: a version name of the project ("v2", a str), a model folder from elsewhere (a Path), or None to
            train a new model from the ``cpu`` preset (the first fine-tune of a fresh install).
        autoencoder: the frozen mask autoencoder of a new model (a folder, a hub id or
            ``stage-one``); None is the preset's, the TAESD embedded in the package. Used only
            when ``start_from`` is None.
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
        command = build_command(start_model, dataset_dir, out_dir, settings, autoencoder, engine)
    except BaseException:
        store.models.discard(staging)
        raise
    kind = "finetune" if start_model is not None else "train"
    start = parent_version or (str(start_model) if start_model else f"{NEW_MODEL_PRESET} preset")
    return ModelJob(
        command=tuple(command),
        kind=kind,
        staging_dir=staging,
        dataset_dir=dataset_dir,
        out_dir=out_dir,
        parent_version=parent_version,
        start_model=start_model,
        notes=f"{kind} from {start} on {store.image_count()} corrected images",
    )


def prepare_import_job(store: CorrectionStore, source: str, engine: Sequence[str] | None = None) -> ModelJob:
    """A job that converts the authors' released LEAF model (a folder or hub id) into a version."""
    source = source.strip()
    if not source:
        raise LeafError("name the released model to import: a folder, or a hub id such as pearisli/LEAF-QaTa-COV19")
    staging = store.models.allocate_next()
    out_dir = staging / OUT_DIR
    command = list(engine) if engine is not None else engine_command()
    command += ["import-weights", "--from", "reference", source, "--out", str(out_dir), "--progress-jsonl"]
    return ModelJob(command=tuple(command), kind="import", staging_dir=staging, dataset_dir=None, out_dir=out_dir,
                    parent_version=None, start_model=None, notes=f"imported from {source}")


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
    autoencoder: str | Path | None = None,
    engine: Sequence[str] | None = None,
) -> list[str]:
    """``leaf finetune --model M ...``, or ``leaf train --preset cpu ...`` when there is no model."""
    command = list(engine) if engine is not None else engine_command()
    if start_model is not None:
        command += ["finetune", "--model", str(start_model)]
    else:
        command += ["train", "--preset", NEW_MODEL_PRESET]
        if autoencoder is not None:
            command += ["--autoencoder", str(autoencoder)]
        if settings.resolution is not None:
            command += ["--resolution", str(settings.resolution)]
    command += ["--data", str(dataset_dir), "--out", str(out_dir), "--seed", str(settings.seed), "--progress-jsonl"]
    optional = (("--steps", settings.steps), ("--batch-size", settings.batch_size), ("--lr", settings.learning_rate),
                ("--warmup-steps", settings.warmup_steps), ("--val-every", settings.val_every),
                ("--select-from-step", select_from_step(settings)),
                ("--frozen-image-encoder-layers", settings.frozen_image_encoder_layers),
                ("--scale-jitter", settings.scale_jitter), ("--colour-jitter", settings.colour_jitter))
    for flag, value in optional:
        if value is not None:
            command += [flag, repr(value)]
    if settings.quarter_turns:
        command.append("--quarter-turns")
    return command


def select_from_step(settings: FinetuneSettings) -> int | None:
    """The step from which the job keeps its best val model (None: the command's default)."""
    if settings.keep_best_from is None or settings.steps is None:
        return None
    return int(settings.keep_best_from * settings.steps)


def produced_model_dir(job: ModelJob, done: JobDone | None) -> Path:
    """The model folder a finished job produced.

    The ``done`` event names it; without one, `leaf train` writes the best model to OUT/model and
    `leaf finetune` and `leaf import-weights` write to OUT itself. It must lie inside the job's
    staging folder.
    """
    if done is not None and done.model_dir is not None:
        # A relative path is relative to the process's folder, which runners set to the staging folder.
        candidate = done.model_dir if done.model_dir.is_absolute() else job.staging_dir / done.model_dir
    else:
        candidate = job.out_dir / "model" if job.kind == "train" else job.out_dir
    if not candidate.resolve().is_relative_to(job.staging_dir.resolve()):
        raise LeafError(f"training wrote its model outside the job folder ('{candidate}')")
    return candidate


def commit_job(store: CorrectionStore, job: ModelJob, done: JobDone | None) -> str:
    """Make the finished job's model the project's next version (the current one is untouched)."""
    metrics = {} if done is None or done.best_val_dice is None else {"val_dice": done.best_val_dice}
    try:
        return store.models.commit_version(produced_model_dir(job, done), job.parent_version, job.notes, metrics)
    except BaseException:
        store.models.discard(job.staging_dir)
        raise


def discard_job(store: CorrectionStore, job: ModelJob) -> None:
    """Remove everything a cancelled or failed job wrote; no version appears."""
    store.models.discard(job.staging_dir)


def plain_failure_message(exit_code: int | None, crashed: bool, error_event: JobError | None, stderr_tail: list[str]) -> str:
    """One sentence for the user from what a failed job's process left behind."""
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
