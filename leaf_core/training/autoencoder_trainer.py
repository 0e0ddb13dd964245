"""Stage one: train the frozen mask autoencoder (E, D) when no pretrained one can be had.

The autoencoder learns masks (3-channel images in [-1, 1]) and images together: masks must come
back through it nearly perfectly (the val mask reconstruction Dice is the ceiling of every LEAF
model built on it), images well enough that a copy of E is a useful start for the image encoder.

Loss per step, on B masks and B images of the same seeded batch:
    L1(mask) + dice_weight * soft Dice loss(mask probability) + image_weight * L1(image)
    (+ kl_weight * KL for AutoencoderKL)
Seeds: the batch, flips and crops of step s come from (seed, s) alone. The best autoencoder by val
mask Dice is kept; progress follows the same JSON-lines contract as `leaf train`.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, AutoencoderTiny
from diffusers.optimization import get_scheduler

from leaf_core.errors import LeafError
from leaf_core.inference.preprocessing import probability_to_mask, uint8_to_signed
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.metrics import dice_score
from leaf_core.model.autoencoder import (
    Autoencoder, build_autoencoder, decode_latent, decoded_to_probability, downsample_factor, encode_latent,
    encode_unscaled, masks_to_autoencoder_input,
)
from leaf_core.model.config import train_images_summary
from leaf_core.model.leaf_model import replace_folder
from leaf_core.training.autoencoder_config import (
    WEIGHTS_DIR, AutoencoderCard, AutoencoderTrainConfig, autoencoder_architecture,
)
from leaf_core.training.losses import soft_dice_loss
from leaf_core.training.pairs import TrainingPairs, random_poses
from leaf_core.training.progress import ProgressReporter
from leaf_core.training.seeding import hash_seed

log = logging.getLogger(__name__)

STAGE = "autoencoder"
SCALE_SAMPLES = 64


@dataclass
class AutoencoderTrainResult:
    autoencoder_dir: Path
    best_val_dice: float | None
    steps: int


@dataclass
class ReconstructionLoss:
    total: torch.Tensor
    mask: torch.Tensor
    image: torch.Tensor
    kl: torch.Tensor


def new_autoencoder(config: AutoencoderTrainConfig) -> Autoencoder:
    """A randomly initialised small autoencoder of the configured architecture (seeded)."""
    class_name, architecture = autoencoder_architecture(config.architecture, config.latent_channels,
                                                        config.downsample, config.width)
    torch.manual_seed(config.seed)
    return build_autoencoder(class_name, architecture)


def train_autoencoder(config: AutoencoderTrainConfig, autoencoder: Autoencoder | None = None) -> AutoencoderTrainResult:
    """Train an autoencoder on the dataset's train masks and images; the best by val mask Dice
    ends up in ``config.out`` (loadable with ``load_autoencoder(config.out)``)."""
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dataset = DatasetFolder(config.data)
    pairs = TrainingPairs.load(dataset, "train", config.resolution, show_progress=not config.progress_jsonl)
    val = _load_val(dataset, config.resolution, show_progress=not config.progress_jsonl)
    autoencoder = (autoencoder or new_autoencoder(config)).to(device)
    autoencoder.requires_grad_(True).train()

    optimizer = torch.optim.AdamW(autoencoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    lr_scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=config.warmup_steps,
                                 num_training_steps=config.steps)
    config.out.mkdir(parents=True, exist_ok=True)
    reporter = ProgressReporter(config.out / "train_log.jsonl", config.steps, config.progress_jsonl)
    reporter.emit("start", total_steps=config.steps, device=str(device), stage=STAGE,
                  architecture=type(autoencoder).__name__, train_images=len(pairs), val_images=len(val or ()))

    card = AutoencoderCard(
        name=config.name or AutoencoderCard.name, architecture=type(autoencoder).__name__,
        latent_channels=int(autoencoder.config.latent_channels), downsample=downsample_factor(autoencoder),
        resolution=config.resolution, training_data=train_images_summary(len(pairs)), train_images=len(pairs),
        settings=config.card_settings(),
    )
    best_val_dice: float | None = None
    for step in range(config.steps):
        generator = torch.Generator().manual_seed(hash_seed(config.seed, step))
        indices = pairs.indices_for_step(step, config.batch_size, config.seed)
        images, masks, _ = pairs.batch(indices, random_poses(len(indices), generator, config.augment))
        loss = reconstruction_loss(autoencoder, masks.to(device), images.to(device), config)
        if not math.isfinite(loss.total.item()):
            raise LeafError(f"autoencoder training diverged at step {step + 1} (loss {loss.total.item()}); try a lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(autoencoder.parameters(), config.grad_clip)
        optimizer.step()
        lr_scheduler.step()
        reporter.emit("step", step=step + 1, total_steps=config.steps, loss=loss.total.item(),
                      lr=lr_scheduler.get_last_lr()[0], loss_mask=loss.mask.item(), loss_image=loss.image.item(),
                      loss_kl=loss.kl.item(), stage=STAGE)
        done = step + 1
        if val is not None and (done % config.val_every == 0 or done == config.steps):
            val_dice, image_l1 = evaluate_reconstruction(autoencoder, val)
            autoencoder.train()
            reporter.emit("val", step=done, val_dice=val_dice, val_image_l1=image_l1, stage=STAGE)
            if best_val_dice is None or val_dice > best_val_dice:
                best_val_dice = val_dice
                card.steps, card.val_mask_dice, card.val_image_l1 = done, val_dice, image_l1
                save_autoencoder(autoencoder, config.out, card, pairs)
    if val is None:
        card.steps = config.steps
        save_autoencoder(autoencoder, config.out, card, pairs)
    reporter.emit("done", model_dir=str(config.out), best_val_dice=best_val_dice, steps=config.steps, stage=STAGE)
    reporter.close()
    return AutoencoderTrainResult(config.out, best_val_dice, config.steps)


def _load_val(dataset: DatasetFolder, resolution: int, show_progress: bool) -> TrainingPairs | None:
    if not dataset.split("val"):
        log.warning("no val split in %s: the last autoencoder is kept and no mask Dice is measured", dataset.root)
        return None
    return TrainingPairs.load(dataset, "val", resolution, show_progress=show_progress)


def reconstruction_loss(autoencoder: Autoencoder, masks: torch.Tensor, images: torch.Tensor,
                        config: AutoencoderTrainConfig) -> ReconstructionLoss:
    """The stage-one loss of masks (B, 1, R, R) in {0, 1} and images (B, 3, R, R) in [-1, 1]."""
    targets = torch.cat([masks_to_autoencoder_input(masks), images])
    kl = torch.zeros((), device=targets.device)
    if isinstance(autoencoder, AutoencoderKL):
        posterior = autoencoder.encode(targets).latent_dist
        decoded = autoencoder.decode(posterior.sample()).sample
        kl = posterior.kl().mean() / targets[0].numel()  # per pixel, as in the L1 terms
    else:
        decoded = autoencoder.decode(autoencoder.encode(targets).latents).sample
    decoded_masks, decoded_images = decoded[: len(masks)], decoded[len(masks):]
    mask_l1 = F.l1_loss(decoded_masks, targets[: len(masks)])
    probability = decoded_to_probability(decoded_masks)
    mask_loss = mask_l1 + config.dice_weight * soft_dice_loss(probability, masks[:, 0])
    image_loss = F.l1_loss(decoded_images, images)
    total = mask_loss + config.image_weight * image_loss + config.kl_weight * kl
    return ReconstructionLoss(total, mask_loss, image_loss, kl)


@torch.inference_mode()
def reconstruct_masks(autoencoder: Autoencoder, masks: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Masks (N, R, R) bool encoded and decoded as LEAF does it: (N, R, R) probabilities in [0, 1]."""
    autoencoder.eval()
    device = next(autoencoder.parameters()).device
    out = []
    for start in range(0, len(masks), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(masks[start : start + batch_size])).unsqueeze(1).to(device)
        latents = encode_latent(autoencoder, masks_to_autoencoder_input(batch))
        out.append(decoded_to_probability(decode_latent(autoencoder, latents)).float().cpu().numpy())
    return np.concatenate(out)


def mask_reconstruction_dice(autoencoder: Autoencoder, masks: np.ndarray, threshold: float = 0.5,
                             batch_size: int = 16) -> float:
    """Mean Dice over masks (N, R, R) bool of their reconstruction thresholded at ``threshold``."""
    probabilities = reconstruct_masks(autoencoder, masks, batch_size)
    return float(np.mean([dice_score(probability_to_mask(p, threshold), m) for p, m in zip(probabilities, masks)]))


@torch.inference_mode()
def image_reconstruction_l1(autoencoder: Autoencoder, images: np.ndarray, batch_size: int = 16) -> float:
    """Mean absolute error in [-1, 1] units of images (N, R, R, 3) uint8 through the autoencoder."""
    autoencoder.eval()
    device = next(autoencoder.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        batch = uint8_to_signed(torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2))
        batch = batch.to(device)
        decoded = decode_latent(autoencoder, encode_latent(autoencoder, batch))
        total += (decoded - batch).abs().mean().item() * len(batch)
        count += len(batch)
    return total / count


def evaluate_reconstruction(autoencoder: Autoencoder, pairs: TrainingPairs) -> tuple[float, float]:
    """(mask reconstruction Dice, image L1) on pairs at their resolution."""
    return mask_reconstruction_dice(autoencoder, pairs.masks), image_reconstruction_l1(autoencoder, pairs.images)


@torch.inference_mode()
def mask_latent_scaling_factor(autoencoder: Autoencoder, masks: np.ndarray) -> float:
    """1 / std of the unscaled mask latents, as latent diffusion sets it: noise then meets
    latents of unit variance. ``masks`` (N, R, R) bool; a few dozen are enough."""
    autoencoder.eval()
    device = next(autoencoder.parameters()).device
    batch = torch.from_numpy(np.ascontiguousarray(masks)).unsqueeze(1).to(device)
    latents = encode_unscaled(autoencoder, masks_to_autoencoder_input(batch))
    return 1.0 / max(float(latents.float().std()), 1e-3)


def set_scaling_factor(autoencoder: Autoencoder, scaling_factor: float) -> None:
    autoencoder.register_to_config(scaling_factor=scaling_factor)
    if isinstance(autoencoder, AutoencoderTiny):  # it keeps a copy as an attribute too
        autoencoder.scaling_factor = scaling_factor


def save_autoencoder(autoencoder: Autoencoder, out: Path, card: AutoencoderCard, pairs: TrainingPairs | None = None) -> Path:
    """Write OUT/vae (config, safetensors, card) in a staging folder, then swap it into place.

    With ``pairs``, the scaling factor is first set from the spread of its first mask latents.
    """
    was_training = autoencoder.training
    if pairs is not None:
        card.scaling_factor = mask_latent_scaling_factor(autoencoder, pairs.masks[:SCALE_SAMPLES])
        set_scaling_factor(autoencoder, card.scaling_factor)
    target = out / WEIGHTS_DIR
    staging = out / f".{WEIGHTS_DIR}.saving"
    shutil.rmtree(staging, ignore_errors=True)
    autoencoder.save_pretrained(staging, safe_serialization=True)
    card.save(staging)
    replace_folder(staging, target)
    autoencoder.train(was_training)
    return out
