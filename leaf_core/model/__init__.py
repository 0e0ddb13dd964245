"""The LEAF model: components, presets and the model folder."""

from leaf_core.model.builder import ModelSources, build_model
from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.presets import PRESETS, get_preset

__all__ = ["LeafConfig", "LeafModel", "ModelCard", "ModelSources", "PRESETS", "build_model", "get_preset"]
