"""Evaluate a model on a dataset split: per-image Dice and IoU at each mask's original size.

Every prediction goes through the Predictor, exactly as the app makes it (same preprocessing,
precision default and per-image noise: the seed mixed with the image's pixels), so the val Dice
on a model card is the app's. Over several seeds, ``dice`` is the mean of the per-seed mean Dice
and ``dice_std_over_seeds`` the standard deviation of those means (the paper's Table 4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leaf_core.inference.engines.selection import DEFAULT_ENGINE
from leaf_core.inference.precision import DEFAULT_PRECISION
from leaf_core.inference.predictor import Predictor
from leaf_core.inference.sampling import SINGLE_STEP
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


def predict_probabilities(model: LeafModel, rgbs: list[np.ndarray], seeds: list[int], steps: int = SINGLE_STEP,
                          precision: str = DEFAULT_PRECISION) -> list[np.ndarray]:
    """Probability maps (HxW float32, each image's own size), one image and seed per entry, as the app makes them."""
    predictor = Predictor(model, device=model.device, precision=precision)
    results = []
    for rgb, seed in zip(rgbs, seeds):
        predictor.set_image(rgb)
        results.append(predictor.predict(seed, steps).probability)
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


def evaluate_images(model: LeafModel, images: list[LabelledImage], seeds: tuple[int, ...] = (0,),
                    steps: int = SINGLE_STEP, precision: str = DEFAULT_PRECISION,
                    engine: str = DEFAULT_ENGINE, model_dir: str | Path | None = None) -> EvaluationResult:
    """Score a model on labelled images over one or more seeds (``engine`` and ``model_dir``, the
    folder the model was loaded from: see Predictor)."""
    if not images:
        raise ValueError("nothing to evaluate: no readable image/mask pairs")
    was_training = model.training
    per_seed = [SegmentationScores() for _ in seeds]
    try:
        predictor = Predictor(model, device=model.device, precision=precision, engine=engine, model_dir=model_dir)
        for image in images:
            predictor.set_image(image.rgb)  # encoded once for all seeds
            for seed, scores in zip(seeds, per_seed):
                scores.add(image.image_id, predictor.predict(seed, steps).mask, image.mask)
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
