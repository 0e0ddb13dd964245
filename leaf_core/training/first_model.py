"""The commands that make a project's first model, with stage one first when it must be.

A new model needs a pretrained mask autoencoder. When neither a local TAESD folder nor a cached
copy of the preset's autoencoder exists (an offline clinic), training on a random frozen
autoencoder would be wasted: its decoder can never give back a mask. The plan then trains one on
the same corrections first (`leaf train-autoencoder`) and builds the model on it.

Plain data and no Qt: the fine-tune job (leaf_core/project/finetune_job.py) runs the
commands one after the other, each with the usual ``--progress-jsonl`` contract.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from leaf_core.model.autoencoder import TAESD_DECODER_FILE, TAESD_ENCODER_FILE

NEW_MODEL_PRESET = "cpu"
PRESET_AUTOENCODER = "madebyollin/taesd"  # the cpu preset's default (leaf_core.model.presets)
AUTOENCODER_DIR = "autoencoder"
STAGE_ONE_STEPS = 200
STAGE_ONE_RESOLUTION = 128  # the cpu preset's resolution
STAGE_ONE_MESSAGE = ("No pretrained autoencoder was found, so LEAF first trains one on your corrections "
                     "(stage one), then trains the model on it.")


@dataclass(frozen=True)
class PlannedCommand:
    """One process of the plan. ``stage``: "autoencoder" (stage one) or "model"; ``message``: a
    line for the user that says what this process does."""

    stage: Literal["autoencoder", "model"]
    command: tuple[str, ...]
    message: str
    output_dir: Path


def is_autoencoder_folder(folder: str | Path) -> bool:
    """True for a folder ``load_autoencoder`` takes without the hub: TAESD files, or a diffusers
    config.json (itself or in vae/). Cheap: nothing is loaded."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (folder / TAESD_ENCODER_FILE).exists() and (folder / TAESD_DECODER_FILE).exists():
        return True
    return (folder / "config.json").exists() or (folder / "vae" / "config.json").exists()


def find_pretrained_autoencoder(taesd_dir: str | Path | None, hub_id: str | None = None) -> str | None:
    """A pretrained autoencoder to start a new model from: the local TAESD folder, else the
    preset's hub id when the hub cache already holds it, else None (stage one is needed)."""
    if taesd_dir is not None and is_autoencoder_folder(taesd_dir):
        return str(taesd_dir)
    hub_id = hub_id or PRESET_AUTOENCODER
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("config.json", "vae/config.json"):
        if isinstance(try_to_load_from_cache(hub_id, filename), str):
            return hub_id
    return None


def first_model_plan(dataset_dir: Path, out_dir: Path, taesd_dir: str | Path | None = None,
                     train_options: Sequence[str] = (), stage_one_steps: int = STAGE_ONE_STEPS, seed: int = 0,
                     python: str = sys.executable) -> list[PlannedCommand]:
    """The commands that train a project's first model on ``dataset_dir``.

    With a pretrained autoencoder: one command, ``leaf train --preset cpu --autoencoder SRC``.
    Without: ``leaf train-autoencoder`` into OUT/autoencoder first, then ``leaf train`` on it.
    Either way the model ends up in OUT/model and every command prints JSON-lines progress.
    ``train_options``: more options for ``leaf train`` (--steps, --lr, --batch-size, --seed ...).
    """
    leaf = [python, "-m", "leaf_core.cli.main"]
    plan: list[PlannedCommand] = []
    autoencoder = find_pretrained_autoencoder(taesd_dir)
    if autoencoder is None:
        autoencoder_dir = out_dir / AUTOENCODER_DIR
        plan.append(PlannedCommand(
            stage="autoencoder",
            command=tuple(leaf + [
                "train-autoencoder", "--data", str(dataset_dir), "--out", str(autoencoder_dir),
                "--steps", str(stage_one_steps), "--val-every", str(max(1, stage_one_steps // 4)),
                "--resolution", str(STAGE_ONE_RESOLUTION), "--seed", str(seed), "--progress-jsonl",
            ]),
            message=STAGE_ONE_MESSAGE,
            output_dir=autoencoder_dir,
        ))
        autoencoder = str(autoencoder_dir)
    train = leaf + ["train", "--preset", NEW_MODEL_PRESET, "--autoencoder", autoencoder,
                    "--data", str(dataset_dir), "--out", str(out_dir), *train_options]
    if "--progress-jsonl" not in train:
        train.append("--progress-jsonl")
    plan.append(PlannedCommand(stage="model", command=tuple(train), message="Training the model.",
                               output_dir=out_dir / "model"))
    return plan
