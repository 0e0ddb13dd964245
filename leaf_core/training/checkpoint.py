"""Trainer checkpoints as safetensors plus JSON (never pickles), written so that an interrupted
save never destroys the last good one: each checkpoint is built in a hidden folder, renamed into
place, and only then named in ``latest.json``.

    RUN_DIR/checkpoints/step-000500/
        trainables.safetensors   U-Net, image encoder, projector (prefixed names)
        ema.safetensors          EMA shadows of the U-Net and the image encoder (when EMA is on);
        ema.json                 their EMAModel scalars (decay, optimization step, warm-up)
        optimizer.safetensors    AdamW state tensors; optimizer.json its param groups
        state.json               step, best val Dice, lr scheduler state

No generator states: every draw of step s comes from (seed, s) (training/seeding.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from leaf_core.errors import LeafError
from leaf_core.io.atomic import atomic_write_text, fsync_directory

LATEST_FILE = "latest.json"


@dataclass
class TrainerState:
    step: int
    best_val_dice: float | None
    lr_scheduler: dict[str, Any]


EmaState = tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]  # TrainablesEMA.state()


def _flatten(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for prefix, module in modules.items()
            for k, v in module.state_dict().items()}


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state into tensors (for safetensors) and JSON (param groups, scalars)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, step: int, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
                    state: TrainerState, ema: EmaState | None, keep: int = 2) -> Path:
    """Write checkpoint ``step`` and point latest.json at it; keep the newest ``keep`` checkpoints."""
    root = run_dir / "checkpoints"
    final = root / f"step-{step:06d}"
    staging = root / f".step-{step:06d}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(_flatten(modules), staging / "trainables.safetensors")
    if ema is not None:
        tensors, scalars = ema
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, staging / "ema.safetensors")
        (staging / "ema.json").write_text(json.dumps(scalars))
    opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
    save_file(opt_tensors, staging / "optimizer.safetensors")
    (staging / "optimizer.json").write_text(json.dumps(opt_meta))
    (staging / "state.json").write_text(json.dumps(state.__dict__))
    fsync_directory(staging)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    atomic_write_text(root / LATEST_FILE, json.dumps({"step": step, "folder": final.name}) + "\n")
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / LATEST_FILE
    if not pointer.exists():
        return None
    folder = run_dir / "checkpoints" / json.loads(pointer.read_text())["folder"]
    return folder if folder.is_dir() else None


@dataclass
class LoadedCheckpoint:
    state: TrainerState
    ema: EmaState | None


def load_checkpoint(folder: Path, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer) -> LoadedCheckpoint:
    """Restore modules and optimizer in place from a checkpoint folder; the trainer state and EMA state come back."""
    try:
        trainables = load_file(folder / "trainables.safetensors")
        for prefix, module in modules.items():
            own = {k[len(prefix) + 1 :]: v for k, v in trainables.items() if k.startswith(prefix + ".")}
            module.load_state_dict(own, strict=True)
        meta = json.loads((folder / "optimizer.json").read_text())
        optimizer.load_state_dict(optimizer_from_tensors(load_file(folder / "optimizer.safetensors"), meta))
        state = TrainerState(**json.loads((folder / "state.json").read_text()))
        ema = None
        if (folder / "ema.safetensors").exists():
            ema = load_file(folder / "ema.safetensors"), json.loads((folder / "ema.json").read_text())
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        raise LeafError(f"cannot resume from '{folder}': {str(error).splitlines()[0]}") from error
    return LoadedCheckpoint(state, ema)
