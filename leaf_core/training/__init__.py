"""Training and fine-tuning of LEAF models."""

from leaf_core.training.config import FinetuneCadence, TrainConfig, finetune_config
from leaf_core.training.trainer import TrainResult, train

__all__ = ["FinetuneCadence", "TrainConfig", "TrainResult", "finetune_config", "train"]
