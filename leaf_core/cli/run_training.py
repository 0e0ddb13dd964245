"""Run a training config from the command line, reporting errors in the progress contract."""

from __future__ import annotations

import json

from leaf_core.errors import LeafError
from leaf_core.training import TrainConfig, train


def run_training(config: TrainConfig) -> int:
    """Train; on a user-facing error emit {"event": "error"} (with --progress-jsonl) and re-raise."""
    try:
        result = train(config)
    except LeafError as error:
        if config.progress_jsonl:
            print(json.dumps({"event": "error", "message": str(error)}), flush=True)
        raise
    dice = "n/a" if result.best_val_dice is None else f"{result.best_val_dice:.4f}"
    if not config.progress_jsonl:
        print(f"model saved to {result.model_dir} (best val Dice {dice})")
    return 0
