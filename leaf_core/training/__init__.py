"""Training and fine-tuning of LEAF models.

The names below load on first use, so that the torch-free modules of this package (cadence,
stage_one) import without torch, as the app needs at start-up.
"""

from importlib import import_module

_HOMES = {"FinetuneCadence": "cadence", "TrainConfig": "config", "finetune_config": "config",
          "TrainResult": "trainer", "train": "trainer"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 lazy attributes
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
