"""What a Predictor runs its three graphs on: the Backend interface and torch, the reference.

Every backend takes and returns float32 CPU-or-device torch tensors, so the sampler
(leaf_core.inference.sampling) and everything after it is the same code whatever runs the graphs.
"""

from __future__ import annotations

from typing import Protocol

import torch

from leaf_core.inference.precision import DEFAULT_PRECISION, as_channels_last, autocast, resolve_precision
from leaf_core.model.leaf_model import LeafModel

ENGINE_NAMES = {"torch": "torch", "openvino": "OpenVINO"}  # how the app and the command line name them


class Backend(Protocol):
    """Runs the image encoder, the U-Net and the mask decoder (shapes: engines/graphs.py)."""

    engine: str  # a key of ENGINE_NAMES
    precision: str  # resolved: "fp32", "bf16" or "int8"

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...

    def unet(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor: ...

    def decode(self, mask_latents: torch.Tensor) -> torch.Tensor: ...


def backend_label(backend: Backend) -> str:
    """What the app's status bar and `leaf predict` say predicts, e.g. "OpenVINO int8"."""
    return f"{ENGINE_NAMES[backend.engine]} {backend.precision}"


class TorchBackend:
    """The model's own modules under the precision's autocast: the reference every engine is tested against."""

    engine = "torch"

    def __init__(self, model: LeafModel, precision: str = DEFAULT_PRECISION) -> None:
        self.model = model
        self.precision = resolve_precision(precision, model.device)

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        with autocast(self.precision, self.model.device):
            return self.model.image_encoder(as_channels_last(images.to(self.model.device))).float()

    @torch.inference_mode()
    def unet(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        # The conversion to z_hat after this runs in float32 even under bf16: eps-prediction divides by a_T.
        with autocast(self.precision, self.model.device):
            return self.model.unet(sample, timesteps).sample.float()

    @torch.inference_mode()
    def decode(self, mask_latents: torch.Tensor) -> torch.Tensor:
        with autocast(self.precision, self.model.device):
            return self.model.decode_probability(mask_latents).float()
