"""One optimizer step of LEAF training: L_pred (+ lambda * L_distill) on each process's share of
the global batch, gradients averaged over processes by the DDP-wrapped modules.

Process p of N takes, for micro-batch m of step s, the ``batch_size`` positions after
``(s * grad_accum + m) * global_batch + p * batch_size`` of the training stream: together the
processes cover the global batch once, and every sample's draws come from its position
(training/seeding.py). Autocast covers the forward pass only; backward and the optimizer step
run outside it. The learning-rate scheduler is not prepared by accelerate (a prepared one steps
once per process per step) and steps here, once per optimizer step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from accelerate import Accelerator
from torch import nn

from leaf_core.errors import LeafError
from leaf_core.model.autoencoder import encode_latent, masks_to_autoencoder_input
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.parameterization import add_noise, signal_and_noise_scales, training_target
from leaf_core.training.alignment import Alignment
from leaf_core.training.config import TrainConfig
from leaf_core.training.losses import latent_prediction_loss
from leaf_core.training.pairs import MaskLatentCache, TrainingPairs
from leaf_core.training.seeding import Jitter, draw_samples, seed_dropout

LOSS_TERMS = ("loss", "loss_pred", "loss_align")


@dataclass
class TrainingModules:
    """What a step runs: the model (frozen parts, scheduler), the forward modules (DDP-wrapped
    under several processes: gradients are averaged through them) and the parameters to clip."""

    model: LeafModel
    unet: nn.Module
    image_encoder: nn.Module
    parameters: list[nn.Parameter]
    alignment: Alignment | None = None

    @property
    def synchronised(self) -> list[nn.Module]:
        """The forward modules accumulate() must hold (no gradient all-reduce until the last micro-batch)."""
        extra = [self.alignment.projector] if self.alignment is not None and self.alignment.active else []
        return [self.unet, self.image_encoder, *extra]


def local_positions(config: TrainConfig, accelerator: Accelerator, step: int, micro: int) -> range:
    """This process's positions of the training stream in micro-batch ``micro`` of step ``step``."""
    global_batch = config.batch_size * accelerator.num_processes
    start = (step * config.grad_accum + micro) * global_batch + accelerator.process_index * config.batch_size
    return range(start, start + config.batch_size)


def micro_batch_losses(modules: TrainingModules, pairs: TrainingPairs, config: TrainConfig, accelerator: Accelerator,
                       mask_cache: MaskLatentCache, positions: range) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, L_pred, L_distill) of the samples at ``positions`` (the forward pass)."""
    model, device = modules.model, accelerator.device
    draws = draw_samples(config.seed, positions, model.scheduler.config.num_train_timesteps,
                         config.final_timestep_fraction, (model.latent_channels, model.latent_size, model.latent_size),
                         config.augment, config.quarter_turns,
                         Jitter(pairs.images.shape[1], config.scale_jitter, config.colour_jitter))
    images, masks, keys = pairs.batch(pairs.indices_at(positions, config.seed), draws.poses, draws.crops, draws.colours)
    images = images.to(device)
    with torch.no_grad():
        mask_latents = mask_cache.latents(keys, masks, lambda m: encode_latent(
            model.mask_autoencoder, masks_to_autoencoder_input(m.to(device)))).to(device)
    noise, timesteps = draws.noise.to(device), draws.timesteps.to(device)
    a_t, s_t = signal_and_noise_scales(model.scheduler, timesteps)
    noisy = add_noise(mask_latents, noise, a_t, s_t)
    image_latents = modules.image_encoder(images)
    output = modules.unet(torch.cat([image_latents, noisy], dim=1), timesteps).sample
    loss_pred = latent_prediction_loss(output, training_target(model.config.prediction_type, mask_latents, noise, a_t, s_t))
    loss, loss_align = loss_pred, torch.zeros((), device=device)
    if modules.alignment is not None and modules.alignment.active:
        loss_align = modules.alignment.loss(images)
        loss = loss + modules.alignment.weight * loss_align
    return loss, loss_pred, loss_align


def train_step(modules: TrainingModules, pairs: TrainingPairs, config: TrainConfig, accelerator: Accelerator,
               optimizer: torch.optim.Optimizer, lr_scheduler: torch.optim.lr_scheduler.LRScheduler,
               mask_cache: MaskLatentCache, step: int) -> dict[str, float]:
    """One optimizer step over ``grad_accum`` micro-batches; the loss terms averaged over the global batch."""
    seed_dropout(config.seed, step, accelerator.process_index)
    totals = torch.zeros(len(LOSS_TERMS))
    for micro in range(config.grad_accum):
        positions = local_positions(config, accelerator, step, micro)
        with accelerator.accumulate(*modules.synchronised):
            with accelerator.autocast():
                terms = micro_batch_losses(modules, pairs, config, accelerator, mask_cache, positions)
            accelerator.backward(terms[0])
            if accelerator.sync_gradients and config.grad_clip > 0:
                accelerator.clip_grad_norm_(modules.parameters, config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        # The mean over processes: every process sees the same numbers, so all stop together on divergence.
        reduced = accelerator.reduce(torch.stack([t.detach().float() for t in terms]), reduction="mean").cpu()
        if not math.isfinite(float(reduced[0])):
            raise LeafError(f"training diverged at step {step + 1} (loss {float(reduced[0])}); try a lower --lr")
        totals += reduced / config.grad_accum
    lr_scheduler.step()
    return dict(zip(LOSS_TERMS, totals.tolist()))
