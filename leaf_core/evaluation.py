"""Evaluate a model on a dataset split: per-image Dice and IoU at each mask's original size.

Each image gets its own noise for a seed (the seed mixed with the image id), so no two images
share their noise. Over several seeds, ``dice`` is the mean of the per-seed mean Dice and
``dice_std_over_seeds`` the standard deviation of those means (the paper's Table 4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from leaf_core.errors import InputFileError
from leaf_core.inference.predictor import image_to_model_input, probability_to_size
from leaf_core.inference.sampling import initial_noise, noise_seed, sample_mask_latents
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.io.images import read_image
from leaf_core.io.masks import read_mask
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
    images, skipped = [], []
    for image_id in dataset.split(split):
        try:
            image = read_image(dataset.image_path(image_id))
            mask = read_mask(dataset.mask_path(image_id), expected_shape=image.rgb.shape[:2])
        except InputFileError as error:
            skipped.append(str(error))
            continue
        images.append(LabelledImage(image_id, image.rgb, mask))
    for line in skipped:
        log.warning("skipped: %s", line)
    return images, skipped


@torch.inference_mode()
def predict_probabilities(model: LeafModel, rgbs: list[np.ndarray], seeds: list[int], steps: int = 1,
                          batch_size: int = 8) -> list[np.ndarray]:
    """Probability maps (HxW float32, each image's own size), one image and seed per entry."""
    device = model.device
    results: list[np.ndarray] = []
    for start in range(0, len(rgbs), batch_size):
        chunk = rgbs[start : start + batch_size]
        batch = torch.stack([image_to_model_input(rgb, model.config.resolution) for rgb in chunk]).to(device)
        image_latents = model.image_encoder(batch)
        noise = initial_noise(model, seeds[start : start + batch_size], device, image_latents.dtype)
        probabilities = model.decode_probability(sample_mask_latents(model, image_latents, noise, steps))
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
                    batch_size: int = 8) -> EvaluationResult:
    """Score a model on labelled images over one or more seeds."""
    if not images:
        raise ValueError("nothing to evaluate: no readable image/mask pairs")
    was_training = model.training
    model.eval()
    per_seed: list[SegmentationScores] = []
    for seed in seeds:
        probabilities = predict_probabilities(
            model, [im.rgb for im in images], [noise_seed(seed, im.image_id) for im in images], steps, batch_size
        )
        scores = SegmentationScores()
        for image, probability in zip(images, probabilities):
            scores.add(image.image_id, probability >= model.config.threshold, image.mask)
        per_seed.append(scores)
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
