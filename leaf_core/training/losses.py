"""The training losses, in one place (none of them exists at inference).

    latent_prediction_loss   L_pred = L1(U-Net output, target) in latent space (the paper's Eq. 4)
    alignment_loss           L_distill = -mean cos(h_i, phi(m)_i) over every token of every image
    soft_dice_loss           stage one: 1 - soft Dice of decoded mask probabilities
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def latent_prediction_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between the U-Net's output and its target, in float32 (also under autocast)."""
    return F.l1_loss(output.float(), target.float())


def alignment_loss(teacher_tokens: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    """-mean cosine similarity over every token of every image (divided once by B * L, not by B twice)."""
    if teacher_tokens.shape != projected.shape:
        raise ValueError(f"token shapes differ: teacher {tuple(teacher_tokens.shape)}, projected {tuple(projected.shape)}")
    return -F.cosine_similarity(teacher_tokens.float(), projected.float(), dim=-1).mean()


def soft_dice_loss(probability: torch.Tensor, masks: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of probabilities (B, H, W) against binary masks (B, H, W), mean over images."""
    dims = (1, 2)
    overlap = (probability * masks).sum(dims)
    return (1.0 - (2.0 * overlap + smooth) / (probability.sum(dims) + masks.sum(dims) + smooth)).mean()
