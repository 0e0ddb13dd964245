"""Model versions of a project: models/v1, models/v2, ... and a ``current`` pointer.

Each version is a model folder as `leaf train` / `leaf finetune` write it (configs, safetensors,
``model_card.json``) plus ``version.json`` (parent, notes, when). A version is never modified
after it appears: training writes into a staging folder (``models/.staging-*``) and the finished
model is renamed into place, so a cancelled or failed job leaves no version behind, and the
current model is never overwritten. ``current.json`` is replaced atomically.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from leaf_core.errors import LeafError
from leaf_core.io.atomic import atomic_write_text, fsync_directory, fsync_path
from leaf_core.project.catalog import project_lock

MODEL_CARD_NAME = "model_card.json"
VERSION_INFO_NAME = "version.json"
CURRENT_NAME = "current.json"
STAGING_PREFIX = ".staging-"
TRAIN_LOG_NAME = "train_log.jsonl"
_VERSION_NAME = re.compile(r"^v([1-9][0-9]*)$")


@dataclass(frozen=True)
class ModelVersion:
    """One model version of a project."""

    name: str
    """"v1", "v2", ..."""
    number: int
    path: Path
    parent: str | None
    """The version it was fine-tuned from (None: trained from the cpu preset or from outside)."""
    notes: str
    created_utc: str | None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def val_dice(self) -> float | None:
        value = self.metrics.get("val_dice")
        return float(value) if isinstance(value, (int, float)) else None

    def label(self) -> str:
        """'v2 (val Dice 0.812)' or 'v2 (no val Dice)', for menus and combo boxes."""
        dice = self.val_dice
        return f"{self.name} (val Dice {dice:.3f})" if dice is not None else f"{self.name} (no val Dice)"


class ModelVersions:
    """The models/ folder of a project."""

    def __init__(self, models_dir: str | Path) -> None:
        self.root = Path(models_dir)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_path = self.root / ".lock"

    def list_versions(self) -> list[ModelVersion]:
        """All versions, oldest first, with the metrics of their model cards."""
        found = []
        for entry in self.root.iterdir():
            match = _VERSION_NAME.match(entry.name)
            if match and entry.is_dir():
                found.append(self._read_version(entry, int(match.group(1))))
        return sorted(found, key=lambda v: v.number)

    def get(self, name: str) -> ModelVersion:
        match = _VERSION_NAME.match(name)
        path = self.root / name
        if not match or not path.is_dir():
            raise LeafError(f"the project has no model version {name!r}")
        return self._read_version(path, int(match.group(1)))

    def current_version(self) -> str | None:
        """The name of the version in use, or None when none was chosen (or it is gone)."""
        try:
            name = json.loads((self.root / CURRENT_NAME).read_text()).get("current")
        except (OSError, ValueError, AttributeError):
            return None
        if isinstance(name, str) and _VERSION_NAME.match(name) and (self.root / name).is_dir():
            return name
        return None

    def current(self) -> ModelVersion | None:
        name = self.current_version()
        return None if name is None else self.get(name)

    def set_current(self, version: str) -> None:
        """Make ``version`` the one the app predicts with (atomically; it must exist)."""
        self.get(version)
        atomic_write_text(self.root / CURRENT_NAME, json.dumps({"current": version}) + "\n")

    def allocate_next(self) -> Path:
        """A new, empty staging folder for a training job (inside models/, so the commit is a rename)."""
        staging = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        staging.mkdir(mode=0o700)
        return staging

    def commit_version(
        self,
        model_dir: str | Path,
        parent_version: str | None,
        notes: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> str:
        """Turn a trained model folder inside a staging folder into the next version; return its name.

        ``model_dir`` is the staging folder itself or a folder inside it (`leaf train` writes
        OUT/model). The model is renamed into place, so the version appears whole or not at all;
        the rest of the staging folder (exported dataset, logs) is then deleted. ``metrics`` are
        kept in version.json for cards that lack them (e.g. the job's best val Dice).
        """
        model_dir = Path(model_dir)
        staging = self._staging_root_of(model_dir)
        if not (model_dir / MODEL_CARD_NAME).is_file():
            raise LeafError(f"training produced no model: '{model_dir}' holds no {MODEL_CARD_NAME}")
        log_file = model_dir.parent / TRAIN_LOG_NAME
        if model_dir != staging and log_file.is_file() and not (model_dir / TRAIN_LOG_NAME).exists():
            os.replace(log_file, model_dir / TRAIN_LOG_NAME)
        info = {
            "parent": parent_version,
            "notes": notes,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "metrics": dict(metrics or {}),
        }
        atomic_write_text(model_dir / VERSION_INFO_NAME, json.dumps(info, indent=1) + "\n")
        _fsync_tree(model_dir)
        with project_lock(self._lock_path):
            numbers = [v.number for v in self.list_versions()]
            name = f"v{max(numbers, default=0) + 1}"
            os.rename(model_dir, self.root / name)
            fsync_directory(self.root)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        return name

    def discard(self, staging_dir: str | Path) -> None:
        """Delete a staging folder (cancelled or failed job); versions are untouched."""
        staging = self._staging_root_of(Path(staging_dir))
        shutil.rmtree(staging, ignore_errors=True)

    def remove_stale_staging(self, older_than_s: float = 24 * 3600) -> list[Path]:
        """Delete staging folders left by a job that never finished (e.g. the app was killed)."""
        removed = []
        now = time.time()
        for entry in self.root.iterdir():
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and now - entry.stat().st_mtime > older_than_s:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def _staging_root_of(self, path: Path) -> Path:
        resolved_root = self.root.resolve()
        resolved = path.resolve()
        relative = resolved.relative_to(resolved_root) if resolved.is_relative_to(resolved_root) else None
        if relative is None or not relative.parts or not relative.parts[0].startswith(STAGING_PREFIX):
            raise LeafError(f"'{path}' is not a staging folder of {self.root}")
        return self.root / relative.parts[0]

    def _read_version(self, path: Path, number: int) -> ModelVersion:
        info = _read_json(path / VERSION_INFO_NAME)
        card = _read_json(path / MODEL_CARD_NAME)
        metrics = dict(info.get("metrics") or {})
        card_metrics = card.get("metrics")
        if isinstance(card_metrics, dict):
            metrics.update(card_metrics)  # the card, written by the trainer, is the authority
        return ModelVersion(
            name=path.name,
            number=number,
            path=path,
            parent=info.get("parent"),
            notes=str(info.get("notes") or ""),
            created_utc=info.get("created_utc"),
            metrics=metrics,
        )


def project_version_of(model_dir: str | Path) -> str | None:
    """"v2" when ``model_dir`` is a version of a project (models/v2 with its version.json), else None."""
    folder = Path(model_dir)
    if _VERSION_NAME.match(folder.name) and folder.parent.name == "models" and (folder / VERSION_INFO_NAME).is_file():
        return folder.name
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fsync_tree(folder: Path) -> None:
    """Flush a trained model's files to disk before the rename that makes it a version."""
    for directory, _, files in os.walk(folder):
        for name in files:
            fsync_path(os.path.join(directory, name))
        fsync_directory(directory)
