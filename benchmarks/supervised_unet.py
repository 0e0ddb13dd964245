"""The supervised U-Net a user would pick instead of LEAF: MONAI's BasicUNet with Dice + BCE.

It sees its data exactly as the LEAF trainer does: the same training pairs at the same resolution
(``leaf_core.training.pairs.TrainingPairs``), the same batch order and the same seeded poses
(``TrainingPairs.batch`` with the poses of ``leaf_core.training.seeding.draw_samples``), validation on `val` to keep the
best network, and scores at each mask's original size with LEAF's own resize-back and threshold
(``leaf_core.inference.preprocessing``, ``leaf_core.metrics``). Only the network, its loss and its
learning rate differ.

A run lasts a number of optimizer steps or a number of process CPU seconds (the LEAF run's, for
the equal-CPU-time comparison). The learning rate is a function of the share of that budget
used, so the same schedule stretches over either.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from leaf_core.evaluation import LabelledImage, load_labelled_images
from leaf_core.inference.preprocessing import image_to_model_input, probability_to_mask, probability_to_size
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.metrics import SegmentationScores
from leaf_core.model.config import LeafConfig
from leaf_core.training.pairs import TrainingPairs
from leaf_core.training.seeding import draw_samples

LR_SCHEDULES = ("cosine", "onecycle")
# torch.optim.lr_scheduler.OneCycleLR's defaults (cosine annealing, two phases).
ONECYCLE_PCT_START, ONECYCLE_DIV, ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4
THRESHOLD = LeafConfig().threshold  # the same foreground rule as LEAF's masks


def build_unet() -> torch.nn.Module:
    """MONAI's BasicUNet with its default widths (32, 32, 64, 128, 256, 32): RGB in, one logit map out."""
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=2, in_channels=3, out_channels=1)


def dice_bce_loss() -> torch.nn.Module:
    """MONAI's Dice + binary cross-entropy on logits (each weighted 1)."""
    from monai.losses import DiceCELoss

    return DiceCELoss(sigmoid=True)


def lr_factor(schedule: str, progress: float, warmup_fraction: float) -> float:
    """The learning rate as a share of the peak, after ``progress`` (0..1) of the budget.

    cosine: linear warm-up over ``warmup_fraction``, then a half cosine to 0 (diffusers'
    get_cosine_schedule_with_warmup, which the LEAF trainer uses). onecycle: torch's OneCycleLR
    with its defaults (from peak/25 up over 30% of the budget, then down to peak/25e4).
    """
    if schedule == "cosine":
        if progress < warmup_fraction:
            return progress / warmup_fraction
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * (progress - warmup_fraction) / (1.0 - warmup_fraction))))
    if schedule == "onecycle":
        low, end = 1.0 / ONECYCLE_DIV, 1.0 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)
        if progress < ONECYCLE_PCT_START:
            start, stop, share = low, 1.0, progress / ONECYCLE_PCT_START
        else:
            start, stop, share = 1.0, end, (progress - ONECYCLE_PCT_START) / (1.0 - ONECYCLE_PCT_START)
        return stop + (start - stop) / 2.0 * (1.0 + math.cos(math.pi * min(1.0, share)))
    raise ValueError(f"unknown lr schedule {schedule!r}; expected one of {LR_SCHEDULES}")


@dataclass(frozen=True)
class UNetRecipe:
    """What was tuned on val: the peak learning rate and its schedule."""

    lr: float
    schedule: str


@dataclass(frozen=True)
class Budget:
    """How long a run trains: ``steps`` optimizer steps, or ``cpu_seconds`` of process CPU time."""

    steps: int | None = None
    cpu_seconds: float | None = None

    def progress(self, steps_done: int, cpu_used: float) -> float:
        return steps_done / self.steps if self.steps is not None else cpu_used / self.cpu_seconds


@dataclass
class UNetConfig:
    """One supervised run; the settings shared with LEAF come from its TrainConfig and preset."""

    data: Path
    resolution: int
    batch_size: int
    recipe: UNetRecipe
    budget: Budget
    validations: int  # evenly spaced over the budget, the last at its end
    warmup_fraction: float
    weight_decay: float
    grad_clip: float
    augment: bool
    seed: int


@dataclass
class UNetRun:
    network: torch.nn.Module  # the best one on val
    best_val_dice: float | None  # None: no val images, or the budget ended before the first validation
    steps: int
    cpu_seconds: float  # the whole run: loading, training, validation (as LEAF's train() is timed)
    wall_seconds: float
    val_trace: list[dict] = field(default_factory=list)


@torch.inference_mode()
def predict_probabilities(network: torch.nn.Module, rgbs: list[np.ndarray], resolution: int,
                          batch_size: int = 8) -> list[np.ndarray]:
    """Probability maps (HxW float32) at each image's own size, resized back as LEAF's are."""
    was_training = network.training
    network.eval()
    results = []
    try:
        for start in range(0, len(rgbs), batch_size):
            chunk = rgbs[start : start + batch_size]
            logits = network(torch.stack([image_to_model_input(rgb, resolution) for rgb in chunk]))
            for rgb, probability in zip(chunk, torch.sigmoid(logits[:, 0])):
                results.append(probability_to_size(probability, *rgb.shape[:2]))
    finally:
        network.train(was_training)
    return results


def score(network: torch.nn.Module, images: list[LabelledImage], resolution: int) -> SegmentationScores:
    """Per-image Dice and IoU at each mask's original size (probability > LEAF's threshold)."""
    scores = SegmentationScores()
    for image, probability in zip(images, predict_probabilities(network, [im.rgb for im in images], resolution)):
        scores.add(image.image_id, probability_to_mask(probability, THRESHOLD), image.mask)
    return scores


def training_batch(pairs: TrainingPairs, step: int, batch_size: int, seed: int,
                   augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The LEAF trainer's batch of step ``step`` on one process: the same samples, the same poses.
    Images (B, 3, R, R) in [-1, 1], masks (B, 1, R, R) in {0, 1}."""
    positions = range(step * batch_size, (step + 1) * batch_size)
    # A sample's pose comes from the first draws of its generator, so it does not depend on the
    # timestep and noise arguments, which the U-Net has no use for.
    poses = draw_samples(seed, positions, 1, 0.0, (1, 1, 1), augment).poses
    images, masks, _ = pairs.batch(pairs.indices_at(positions, seed), poses)
    return images, masks


def train_unet(config: UNetConfig) -> UNetRun:
    """Train from scratch for the budget; keep the network with the best val Dice."""
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    dataset = DatasetFolder(config.data)
    pairs = TrainingPairs.load(dataset, "train", config.resolution, show_progress=False)
    val_images, _ = load_labelled_images(dataset, "val")
    torch.manual_seed(config.seed)
    network = build_unet()
    loss_fn = dice_bce_loss()
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.recipe.lr, weight_decay=config.weight_decay)
    best, best_val_dice, trace = network, None, []
    step, validations_done = 0, 0
    network.train()
    while config.budget.progress(step, time.process_time() - cpu_start) < 1.0:
        progress = config.budget.progress(step, time.process_time() - cpu_start)
        for group in optimizer.param_groups:
            group["lr"] = config.recipe.lr * lr_factor(config.recipe.schedule, progress, config.warmup_fraction)
        images, masks = training_batch(pairs, step, config.batch_size, config.seed, config.augment)
        loss = loss_fn(network(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
        optimizer.step()
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"the U-Net diverged at step {step + 1} (loss {loss.item()}); lower its lr")
        step += 1
        progress = config.budget.progress(step, time.process_time() - cpu_start)
        due = min(config.validations, math.floor(progress * config.validations + 1e-9))
        if due > validations_done and val_images:
            validations_done = due
            val_dice = score(network, val_images, config.resolution).mean_dice
            trace.append({"step": step, "progress": round(progress, 4), "val_dice": val_dice, "loss": loss.item()})
            if best_val_dice is None or val_dice > best_val_dice:
                best, best_val_dice = copy.deepcopy(network), val_dice
    return UNetRun(best.eval(), best_val_dice, step, time.process_time() - cpu_start,
                   time.perf_counter() - wall_start, trace)
