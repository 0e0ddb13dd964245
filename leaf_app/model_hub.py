"""Loaded models, one per model folder, kept so switching images does not reload them (no Qt).

The engine (torch) is imported only when a model is first loaded, so the window opens fast. The
Predictor picks the inference engine (OpenVINO when installed and faster, else torch); the stamp
carries an engine's name, so the status bar says what made a mask ("Mask by LEAF 2 · OpenVINO int8";
no suffix: torch, the reference).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaf_app.document.image_document import ModelStamp
from leaf_core.project.versions import project_version_of


@dataclass
class LoadedModel:
    """A model ready to predict: its Predictor and who it is."""

    model_dir: Path
    predictor: Any  # leaf_core.inference.Predictor
    stamp: ModelStamp


class ModelHub:
    """Loads model folders on demand and keeps them (thread-safe; prediction runs off the GUI thread)."""

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self._models: dict[Path, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, model_dir: str | Path) -> LoadedModel:
        """The model in ``model_dir``, loading it the first time (raises ModelLoadError)."""
        key = Path(model_dir).resolve()
        with self._lock:
            if key not in self._models:
                from leaf_core.inference import Predictor
                from leaf_core.model import LeafModel

                model = LeafModel.from_pretrained(key)
                predictor = Predictor(model, device=self.device, model_dir=key)
                # torch is the reference and says nothing; an engine says itself ("OpenVINO int8")
                engine = "" if predictor.backend.engine == "torch" else predictor.engine_label
                stamp = ModelStamp(str(model.card.name), str(model.card.version), project_version_of(key), engine)
                self._models[key] = LoadedModel(key, predictor, stamp)
            return self._models[key]

    def forget(self, model_dir: str | Path) -> None:
        """Drop a cached model (its folder was replaced, e.g. by fine-tuning)."""
        with self._lock:
            self._models.pop(Path(model_dir).resolve(), None)
