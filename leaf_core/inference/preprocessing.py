"""Images into the model, probabilities out of it: the one definition used by inference,
evaluation and training.

Resizing is PIL's antialiased bilinear filter over the whole source (no ``reducing_gap``
shortcut), which is what the authors' code gets from torchvision's ``Resize`` on a PIL image:
an imported model sees the very pixels it was trained on. On a 4000x3000 photograph it costs
about 20 ms more than the shortcut (measured: 28 ms against 7 ms to 128 px, one core); at the
sizes of the paper's datasets the difference is nil.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resize_rgb(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """HxWx3 uint8 RGB to RxRx3 uint8 (antialiased bilinear)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    return np.array(Image.fromarray(rgb).resize((resolution, resolution), Image.Resampling.BILINEAR))


def uint8_to_signed(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 values (any shape) to float32 in [-1, 1], as x / 255 * 2 - 1 (the authors' arithmetic)."""
    return pixels.float().div(255.0).mul(2.0).sub(1.0)


def image_to_model_input(rgb: np.ndarray, resolution: int) -> torch.Tensor:
    """HxWx3 uint8 RGB to a (3, R, R) float32 tensor in [-1, 1]."""
    return uint8_to_signed(torch.from_numpy(resize_rgb(rgb, resolution)).permute(2, 0, 1))


def image_key(resized: np.ndarray) -> str:
    """A digest of the resized image: the image's part in its noise seed (see sampling.noise_seed).

    Two images get the same noise only when the model sees the same pixels, so no two images of
    a data set share their noise, and the app and `leaf evaluate` draw the same noise for an image.
    """
    return hashlib.sha256(np.ascontiguousarray(resized).tobytes()).hexdigest()[:16]


def probability_to_size(probability: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(R, R) probability resized to (height, width), float32 numpy (bilinear)."""
    resized = F.interpolate(probability[None, None].float(), size=(height, width), mode="bilinear", align_corners=False)
    return resized[0, 0].clamp(0.0, 1.0).cpu().numpy()


def probability_to_mask(probability: np.ndarray | torch.Tensor, threshold: float) -> np.ndarray | torch.Tensor:
    """Foreground where the probability is above ``threshold`` (strictly, as the authors' code)."""
    return probability > threshold
