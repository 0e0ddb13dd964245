"""Configs of a LEAF model (saved with it) and its model card."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from leaf_core.io.atomic import atomic_write_text
from leaf_core.model.parameterization import DEFAULT_PREDICTION_TYPE, NoiseScheduleConfig, check_prediction_type

CONFIG_FILE = "leaf_config.json"
CARD_FILE = "model_card.json"
FORMAT_VERSION = 1


@dataclass
class LeafConfig:
    """What inference needs beyond the component weights."""

    resolution: int = 128
    prediction_type: str = DEFAULT_PREDICTION_TYPE
    schedule: NoiseScheduleConfig = field(default_factory=NoiseScheduleConfig)
    threshold: float = 0.5  # foreground: probability > threshold
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        check_prediction_type(self.prediction_type)
        if isinstance(self.schedule, dict):
            self.schedule = NoiseScheduleConfig(**self.schedule)

    def save(self, folder: Path) -> None:
        atomic_write_text(folder / CONFIG_FILE, json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "LeafConfig":
        data = json.loads((folder / CONFIG_FILE).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def train_images_summary(n_train: int) -> str:
    """A card's training data as a count only: a card travels with the model, and a data folder's
    path may name a patient."""
    return f"{n_train} train image{'' if n_train == 1 else 's'}"


@dataclass
class ModelCard:
    """Who made a model, from what, and how good it is (JSON beside the weights)."""

    name: str = "LEAF model"
    version: str = "1"
    preset: str = "custom"
    task: str | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    autoencoder: str = "unknown"
    teacher: str = "none"
    alignment: str = "off"
    training_data: str | None = None
    steps: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    parent: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def save(self, folder: Path) -> None:
        atomic_write_text(folder / CARD_FILE, json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "ModelCard":
        path = folder / CARD_FILE
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def label(self) -> str:
        """A short human label: 'name v3'."""
        return f"{self.name} v{self.version}"
