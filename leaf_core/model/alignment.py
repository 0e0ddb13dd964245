"""Feature alignment (REPA style), used only in training.

A frozen vision encoder (DINOv2 by default; CLIP vision also accepted) gives patch tokens h of
the clean image, resized so that its patch grid equals the H x W of a chosen U-Net encoder block.
A projector MLP maps that block's features to the teacher's width, and

    alignment_loss = -mean over batch and tokens of cos(h_i, phi(m)_i)

(one mean over all B * L tokens: the batch is divided once, not twice). Neither the teacher nor
the projector is part of a saved model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

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


def alignment_loss(teacher_tokens: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    """-mean cosine similarity over every token of every image (divided once by B * L)."""
    if teacher_tokens.shape != projected.shape:
        raise ValueError(f"token shapes differ: teacher {tuple(teacher_tokens.shape)}, projected {tuple(projected.shape)}")
    return -F.cosine_similarity(teacher_tokens.float(), projected.float(), dim=-1).mean()


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
