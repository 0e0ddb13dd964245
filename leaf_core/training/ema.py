"""Exponential moving averages of the trained networks (the U-Net and the image encoder), with
diffusers' EMAModel: validation and the saved model use the averages of both, never a mix of
averaged and raw weights. Checkpoints keep them through EMAModel.state_dict(): the shadow
tensors in safetensors (named by parameter), the scalars (decay, optimization step...) in JSON.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from diffusers.training_utils import EMAModel
from torch import nn

EMA_POWER = 2 / 3  # diffusers' warm-up exponent for models trained for < 1M steps


class TrainablesEMA:
    """One EMAModel per network in ``modules`` (name -> module)."""

    def __init__(self, modules: dict[str, nn.Module], decay: float, device: torch.device) -> None:
        self.modules = modules
        self.averages = {name: EMAModel(module.parameters(), decay=decay, use_ema_warmup=True, power=EMA_POWER)
                         for name, module in modules.items()}
        self.device = device
        for average in self.averages.values():
            average.to(device)

    def step(self) -> None:
        """Update every average after an optimizer step."""
        for name, average in self.averages.items():
            average.step(self.modules[name].parameters())

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the modules for the block (validation, saving), the trained ones after."""
        for name, average in self.averages.items():
            average.store(self.modules[name].parameters())
            average.copy_to(self.modules[name].parameters())
        try:
            yield
        finally:
            for name, average in self.averages.items():
                average.restore(self.modules[name].parameters())

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
        """(shadow tensors named '<module>.<parameter>', each module's EMAModel scalars)."""
        tensors: dict[str, torch.Tensor] = {}
        scalars: dict[str, dict[str, Any]] = {}
        for name, average in self.averages.items():
            state = dict(average.state_dict())
            shadow = state.pop("shadow_params")
            tensors.update({f"{name}.{param}": tensor for (param, _), tensor in zip(self.modules[name].named_parameters(), shadow)})
            scalars[name] = state
        return tensors, scalars

    def load(self, tensors: dict[str, torch.Tensor], scalars: dict[str, dict[str, Any]]) -> None:
        """Restore what ``state`` gave; raises KeyError when a module or parameter is missing."""
        for name, average in self.averages.items():
            shadow = [tensors[f"{name}.{param}"].to(self.device) for param, _ in self.modules[name].named_parameters()]
            average.load_state_dict({**scalars[name], "shadow_params": shadow})
