"""Run a training config from the command line, reporting errors in the progress contract."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import torch

from leaf_core.errors import LeafError
from leaf_core.training import TrainConfig, train
from leaf_core.training.distributed import launched_rank


@contextlib.contextmanager
def reporting_errors(progress_jsonl: bool) -> Iterator[None]:
    """A LeafError or ValueError (a setting out of range) becomes {"event": "error", "message": ...}
    on stdout with --progress-jsonl (from the first process only), then goes on to ``leaf``'s
    one-line message and exit code 2. Every training command and stage one report through it."""
    try:
        yield
    except (LeafError, ValueError) as error:
        if progress_jsonl and launched_rank() == 0:
            print(json.dumps({"event": "error", "message": str(error)}), flush=True)
        raise


def run_training(config: TrainConfig) -> int:
    """Train; the last line says where the model went (without --progress-jsonl)."""
    with reporting_errors(config.progress_jsonl):
        result = train(config)
    if torch.distributed.is_initialized():  # several processes: leave the process group cleanly
        torch.distributed.destroy_process_group()
    dice = "n/a" if result.best_val_dice is None else f"{result.best_val_dice:.4f}"
    if not config.progress_jsonl and launched_rank() == 0:
        print(f"model saved to {result.model_dir} (best val Dice {dice})")
    return 0
