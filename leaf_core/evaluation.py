"""Evaluate a model on a dataset split: per-image Dice and IoU at each mask's original size.

Each image gets its own noise for a seed (the seed mixed with the image id), so no two images
share their noise. Each image is encoded once for all seeds, and masks are scored as they come
(nothing is kept per seed but the scores). Over several seeds, ``dice`` is the mean of the per-seed mean Dice and
``dice_std_over_seeds`` the standard deviation of those means (the paper's Table 4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from leaf_core.inference.precision import as_channels_last, autocast
from leaf_core.inference.predictor import image_to_model_input, probability_to_size
from leaf_core.inference.sampling import initial_noise, noise_seed, sample_mask_latents
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.metrics import SegmentationScores
from leaf_core.model.leaf_model import LeafModel

log = logging.getLogger(__name__)


@dataclass
class LabelledImage:
    """An image (HxWx3 uint8) and its ground-truth mask (HxW bool) at the original size."""

    image_id: str
    rgb: np.ndarray
    mask: np.ndarray


def load_labelled_images(dataset: DatasetFolder, split: str) -> tuple[list[LabelledImage], list[str]]:
    """The readable image/mask pairs of a split, and one line per pair that was skipped."""
    skipped: list[str] = []
    images = [LabelledImage(i, rgb, mask) for i, rgb, mask in dataset.readable_pairs(split, skipped)]
    return images, skipped


@torch.inference_mode()
def encode_images(model: LeafModel, rgbs: list[np.ndarray], precision: str = "fp32") -> torch.Tensor:
    """Image latents (N, C, h, w) float32 of HxWx3 uint8 images, in one batch."""
    batch = torch.stack([image_to_model_input(rgb, model.config.resolution) for rgb in rgbs]).to(model.device)
    with autocast(precision, model.device):
        return model.image_encoder(as_channels_last(batch)).float()


@torch.inference_mode()
def decode_masks(model: LeafModel, image_latents: torch.Tensor, seeds: list[int], steps: int = 1,
                 precision: str = "fp32") -> torch.Tensor:
    """(N, R, R) float32 probabilities at the model's resolution, one per image latent and seed."""
    noise = initial_noise(model, seeds, model.device, torch.float32)
    with autocast(precision, model.device):
        return model.decode_probability(sample_mask_latents(model, image_latents, noise, steps)).float()


@torch.inference_mode()
def predict_probabilities(model: LeafModel, rgbs: list[np.ndarray], seeds: list[int], steps: int = 1,
                          batch_size: int = 8, precision: str = "fp32") -> list[np.ndarray]:
    """Probability maps (HxW float32, each image's own size), one image and seed per entry."""
    results: list[np.ndarray] = []
    for start in range(0, len(rgbs), batch_size):
        chunk = rgbs[start : start + batch_size]
        image_latents = encode_images(model, chunk, precision)
        probabilities = decode_masks(model, image_latents, seeds[start : start + batch_size], steps, precision)
        results.extend(probability_to_size(p, rgb.shape[0], rgb.shape[1]) for p, rgb in zip(probabilities, chunk))
    return results


@dataclass
class EvaluationResult:
    dice: float
    iou: float
    n_images: int
    dice_std_over_seeds: float
    dice_per_seed: list[float] = field(default_factory=list)
    per_image: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "dice": self.dice,
            "iou": self.iou,
            "n_images": self.n_images,
            "dice_std_over_seeds": self.dice_std_over_seeds,
            "dice_per_seed": self.dice_per_seed,
            "per_image": self.per_image,
        }


def evaluate_images(model: LeafModel, images: list[LabelledImage], seeds: tuple[int, ...] = (0,), steps: int = 1,
                    batch_size: int = 8, precision: str = "fp32") -> EvaluationResult:
    """Score a model on labelled images over one or more seeds."""
    if not images:
        raise ValueError("nothing to evaluate: no readable image/mask pairs")
    was_training = model.training
    model.eval()
    per_seed = [SegmentationScores() for _ in seeds]
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            image_latents = encode_images(model, [im.rgb for im in chunk], precision)  # once for all seeds
            for seed, scores in zip(seeds, per_seed):
                probabilities = decode_masks(model, image_latents, [noise_seed(seed, im.image_id) for im in chunk],
                                             steps, precision)
                for image, probability in zip(chunk, probabilities):
                    full = probability_to_size(probability, image.mask.shape[0], image.mask.shape[1])
                    scores.add(image.image_id, full >= model.config.threshold, image.mask)
    finally:
        model.train(was_training)
    dice_means = [s.mean_dice for s in per_seed]
    per_image = [
        {"id": image.image_id,
         "dice": float(np.mean([s.dice[i] for s in per_seed])),
         "iou": float(np.mean([s.iou[i] for s in per_seed]))}
        for i, image in enumerate(images)
    ]
    return EvaluationResult(
        dice=float(np.mean(dice_means)),
        iou=float(np.mean([s.mean_iou for s in per_seed])),
        n_images=len(images),
        dice_std_over_seeds=float(np.std(dice_means)),
        dice_per_seed=dice_means,
        per_image=per_image,
    )
