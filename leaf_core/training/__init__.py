"""Training and fine-tuning of LEAF models."""

from leaf_core.training.config import TrainConfig
from leaf_core.training.trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
