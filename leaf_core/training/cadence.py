"""How long and how often: the run lengths a new model and a fine-tune get unless told otherwise.

Plain numbers without torch, so the app can show them in its dialogs before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BATCH_SIZE = 4  # per process (the paper's)


@dataclass(frozen=True)
class FinetuneCadence:
    """How a fine-tune runs unless told otherwise: a short run on a few corrections, validated and
    checkpointed more often than a new model's."""

    steps: int = 300
    warmup_steps: int = 20
    val_every: int = 50
    checkpoint_every: int = 100
