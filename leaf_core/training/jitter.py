"""Scale and colour jitter of training samples, besides the poses: a random square crop resized
back to the full frame (image and mask alike), and random brightness, contrast and saturation
(the image only). A few corrections show a model few sizes and lighting conditions; these show it more."""

from __future__ import annotations

import torch
import torch.nn.functional as F

Crop = tuple[int, int, int]
"""(top, left, side) in pixels of a square of the stored image, resized back to the full frame."""
ColourFactors = tuple[float, float, float]
"""(brightness, contrast, saturation) factors; 1 leaves the image as it is."""

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's and torchvision's greyscale


def random_crop(resolution: int, scale_jitter: float, generator: torch.Generator) -> Crop:
    """A square of side uniform in [(1 - scale_jitter) R, R] at a uniform position."""
    size_draw, top_draw, left_draw = torch.rand(3, generator=generator).tolist()
    side = max(1, round(resolution * (1.0 - scale_jitter * size_draw)))
    room = resolution - side
    return min(room, int(top_draw * (room + 1))), min(room, int(left_draw * (room + 1))), side


def random_colour(colour_jitter: float, generator: torch.Generator) -> ColourFactors:
    """Each factor uniform in [1 - colour_jitter, 1 + colour_jitter]."""
    brightness, contrast, saturation = (1.0 + colour_jitter * (2.0 * torch.rand(3, generator=generator) - 1.0)).tolist()
    return brightness, contrast, saturation


def crop_to_frame(tensor: torch.Tensor, crop: Crop) -> torch.Tensor:
    """The (C, R, R) ``tensor``'s ``crop``, resized back to R x R (bilinear)."""
    top, left, side = crop
    resolution = tensor.shape[-1]
    window = tensor[:, top : top + side, left : left + side]
    if side == resolution:
        return window.clone()
    return F.interpolate(window[None], size=(resolution, resolution), mode="bilinear", align_corners=False)[0]


def jitter_colour(image: torch.Tensor, factors: ColourFactors) -> torch.Tensor:
    """An RGB (3, R, R) image in [-1, 1] with brightness, contrast and saturation scaled, in that
    order, as torchvision's ColorJitter defines each (contrast about the mean grey, saturation
    towards the grey image), clamped to [-1, 1]."""
    brightness, contrast, saturation = factors
    weights = torch.tensor(LUMA, dtype=image.dtype).view(3, 1, 1)
    unit = ((image + 1.0) / 2.0 * brightness).clamp(0.0, 1.0)
    mean_grey = (unit * weights).sum(0).mean()
    unit = ((unit - mean_grey) * contrast + mean_grey).clamp(0.0, 1.0)
    grey = (unit * weights).sum(0, keepdim=True)
    unit = ((unit - grey) * saturation + grey).clamp(0.0, 1.0)
    return unit * 2.0 - 1.0
