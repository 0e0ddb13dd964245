"""Feature alignment (REPA style), used only in training (the loss itself: training/losses.py).

A frozen vision encoder (DINOv2 by default; CLIP vision also accepted) gives patch tokens h of
the clean image, resized so that its patch grid equals the H x W of a chosen U-Net encoder block.
A projector MLP maps that block's features to the teacher's width, and

    alignment_loss = -mean over batch and tokens of cos(h_i, phi(m)_i)

Neither the teacher nor the projector is part of a saved model. ``transformers`` is imported
only here, and only when a teacher is loaded: the model and inference never need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from leaf_core.training.losses import alignment_loss

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class FrozenTeacher(nn.Module):
    """Patch tokens (B, H*W, D) of images in [-1, 1] from a frozen transformers vision encoder."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        config = encoder.config
        self.encoder = encoder.requires_grad_(False).eval()
        self.is_clip = "clip" in type(encoder).__name__.lower()
        self.patch_size = int(config.patch_size)
        self.width = int(config.hidden_size)
        self.prefix_tokens = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        mean, std = (CLIP_MEAN, CLIP_STD) if self.is_clip else (IMAGENET_MEAN, IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "FrozenTeacher":
        return super().train(False)  # always frozen, dropout off

    @torch.no_grad()
    def patch_tokens(self, images: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        size = (grid[0] * self.patch_size, grid[1] * self.patch_size)
        pixels = F.interpolate((images.float() + 1.0) / 2.0, size=size, mode="bicubic", align_corners=False)
        pixels = (pixels.clamp(0, 1) - self.mean) / self.std
        kwargs = {"interpolate_pos_encoding": True} if self.is_clip else {}
        hidden = self.encoder(pixel_values=pixels, **kwargs).last_hidden_state
        return hidden[:, self.prefix_tokens :, :]


def load_teacher(source: str) -> tuple[FrozenTeacher | None, str]:
    """The teacher from a local folder or hub id, or (None, reason) when it cannot be loaded."""
    from transformers import AutoModel, CLIPVisionModel

    try:
        model = AutoModel.from_pretrained(source)
    except (OSError, ValueError, RuntimeError) as error:
        return None, f"teacher {source!r} could not be loaded ({str(error).splitlines()[0][:200]})"
    if type(model).__name__ == "CLIPModel":
        model = CLIPVisionModel.from_pretrained(source)
    if not hasattr(model.config, "patch_size"):
        return None, f"teacher {source!r} is a {type(model).__name__}, not a ViT vision encoder"
    return FrozenTeacher(model), f"teacher {source}"


class Projector(nn.Module):
    """phi: a 3-layer MLP with SiLU mapping U-Net features (C) to the teacher's width (D)."""

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 512) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.SiLU(),
            nn.Linear(hidden_channels, hidden_channels), nn.SiLU(),
            nn.Linear(hidden_channels, out_channels),
        )

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) to (B, H*W, D)."""
        return self.layers(feature_map.flatten(2).transpose(1, 2))


@dataclass
class FeatureTap:
    """Keeps the output of one U-Net down block during a forward pass (a forward hook)."""

    block: nn.Module
    features: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self._handle = self.block.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: object, output: object) -> None:
        self.features = output[0] if isinstance(output, tuple) else output

    def remove(self) -> None:
        self._handle.remove()


def block_output_shape(unet: nn.Module, block_index: int, latent_size: int) -> tuple[int, int, int]:
    """(channels, H, W) of down block ``block_index``'s output for a square latent."""
    block = unet.down_blocks[block_index]
    downsamples = sum(1 for b in unet.down_blocks[: block_index + 1] if getattr(b, "downsamplers", None))
    channels = block.resnets[-1].out_channels
    size = latent_size // (2**downsamples)
    return channels, size, size


class Alignment:
    """The teacher, the projector and the tap on a U-Net down block, for one training run.

    ``active`` is False when the teacher could not be loaded (``description`` says why); the run
    then trains without alignment.
    """

    def __init__(self, unet: nn.Module, latent_size: int, teacher_source: str, block: int, weight: float) -> None:
        self.teacher, self.description = load_teacher(teacher_source)
        self.weight = weight
        self.projector: nn.Module | None = None
        self.tap: FeatureTap | None = None
        if self.teacher is not None:
            channels, height, width = block_output_shape(unet, block, latent_size)
            self.grid = (height, width)
            self.projector = Projector(channels, self.teacher.width)
            self.tap = FeatureTap(unet.down_blocks[block])

    @property
    def active(self) -> bool:
        return self.teacher is not None

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        """L_distill of the features the tap kept in the last U-Net forward pass, for images in [-1, 1]."""
        tokens = self.teacher.patch_tokens(images, self.grid)
        return alignment_loss(tokens, self.projector(self.tap.features))

    def remove(self) -> None:
        if self.tap is not None:
            self.tap.remove()
