"""Segmentation metrics as pure functions, plus a small accumulator.

Empty ground truth: when both the prediction and the ground truth are empty, Dice and IoU are
1.0 (the model correctly found nothing); when the ground truth is empty and the prediction is
not, they are 0.0. (One reference implementation returns 1 in the second case; we do not.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def dice_score(prediction: np.ndarray, ground_truth: np.ndarray) -> float:
    """Dice of two binary masks of the same shape (HxW, any dtype; nonzero is foreground)."""
    pred, gt = _as_binary_pair(prediction, ground_truth)
    total = int(pred.sum()) + int(gt.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, gt).sum()) / total


def iou_score(prediction: np.ndarray, ground_truth: np.ndarray) -> float:
    """Intersection over union of two binary masks of the same shape; see the module doc for empties."""
    pred, gt = _as_binary_pair(prediction, ground_truth)
    union = int(np.logical_or(pred, gt).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(pred, gt).sum()) / union


def _as_binary_pair(prediction: np.ndarray, ground_truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if prediction.shape != ground_truth.shape:
        raise ValueError(f"mask shapes differ: prediction {prediction.shape}, ground truth {ground_truth.shape}")
    return prediction.astype(bool), ground_truth.astype(bool)


@dataclass
class SegmentationScores:
    """Accumulates per-image Dice and IoU; means are over images."""

    image_ids: list[str] = field(default_factory=list)
    dice: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)

    def add(self, image_id: str, prediction: np.ndarray, ground_truth: np.ndarray) -> float:
        """Score one image and return its Dice."""
        d = dice_score(prediction, ground_truth)
        self.image_ids.append(image_id)
        self.dice.append(d)
        self.iou.append(iou_score(prediction, ground_truth))
        return d

    @property
    def mean_dice(self) -> float:
        return float(np.mean(self.dice)) if self.dice else float("nan")

    @property
    def mean_iou(self) -> float:
        return float(np.mean(self.iou)) if self.iou else float("nan")

    def per_image(self) -> list[dict[str, float | str]]:
        return [{"id": i, "dice": d, "iou": j} for i, d, j in zip(self.image_ids, self.dice, self.iou)]
