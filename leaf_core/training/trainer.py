"""The LEAF trainer: L1 latent loss (+ lambda * alignment loss), accelerate for devices,
mixed precision, gradient accumulation and several GPUs (`accelerate launch` works unchanged).

Seeds everywhere: the batch order, flips, timesteps and noise of step s come from (seed, s) alone,
so `resume` continues exactly. Validation runs on `val` only and keeps the best-Dice model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel

from leaf_core.errors import LeafError
from leaf_core.evaluation import LabelledImage, evaluate_images, load_labelled_images
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.model.autoencoder import encode_latent, masks_to_autoencoder_input
from leaf_core.model.builder import build_model
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.presets import PRESETS
from leaf_core.model.parameterization import (
    NoiseScheduleConfig, add_noise, signal_and_noise_scales, training_target,
)
from leaf_core.training.alignment import Alignment
from leaf_core.training.checkpoint import TrainerState, latest_checkpoint, load_checkpoint, save_checkpoint
from leaf_core.training.config import LR_SCHEDULES, TrainConfig
from leaf_core.training.losses import latent_prediction_loss
from leaf_core.training.pairs import MaskLatentCache, TrainingPairs
from leaf_core.training.progress import ProgressReporter

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: Path
    best_val_dice: float | None
    steps: int
    config: TrainConfig  # with the preset's defaults filled in


def prepare_model(config: TrainConfig) -> LeafModel:
    """The model to train: an existing folder (fine-tuning) or a new one from the preset."""
    if config.init_model is not None:
        return LeafModel.from_pretrained(config.init_model)
    schedule = NoiseScheduleConfig(beta_schedule=config.beta_schedule, beta_start=config.beta_start, beta_end=config.beta_end)
    return build_model(config.preset, config.sources, config.resolution, config.prediction_type, schedule)


def resolve_defaults(config: TrainConfig, model: LeafModel) -> TrainConfig:
    """Fill the settings left to the preset: learning rate, alignment weight and teacher."""
    preset = PRESETS.get(model.card.preset)
    fine_tuning = config.init_model is not None
    lr = config.lr if config.lr is not None else (preset.learning_rate if preset else 4e-5)
    align_weight = config.align_weight
    if align_weight is None:
        align_weight = preset.align_weight if preset and not fine_tuning else 0.0
    teacher = config.teacher or (preset.teacher if preset else None)
    final_fraction = config.final_timestep_fraction
    if final_fraction is None:
        final_fraction = preset.final_timestep_fraction if preset else 0.0
    lr_schedule = config.lr_schedule or (preset.lr_schedule if preset else "constant")
    return dataclasses.replace(config, lr=lr, lr_schedule=lr_schedule, align_weight=align_weight, teacher=teacher,
                               final_timestep_fraction=final_fraction)


def train(config: TrainConfig, model: LeafModel | None = None) -> TrainResult:
    """Train (or fine-tune) a model; the best model by val Dice ends up in ``config.model_dir``."""
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision or ("bf16" if torch.cuda.is_available() and config.device != "cpu" else "no"),
        gradient_accumulation_steps=config.grad_accum,
        cpu=config.device == "cpu",
    )
    set_seed(config.seed)
    dataset = DatasetFolder(config.data)
    model = model or prepare_model(config)
    config = resolve_defaults(config, model)
    pairs = TrainingPairs.load(dataset, "train", model.config.resolution, show_progress=accelerator.is_main_process)
    val_images, _ = load_labelled_images(dataset, "val")
    if not val_images:
        log.warning("no val split in %s: the last model is kept (no checkpoint selection)", config.data)

    alignment = None
    if config.align_weight > 0:
        if config.teacher is None:
            raise LeafError("--align-weight needs a teacher (--teacher HUB_ID_OR_FOLDER)")
        alignment = Alignment(model.unet, model.latent_size, config.teacher, config.align_block, config.align_weight)
        if not alignment.active:
            # One clear line; the card records it too.
            print(f"alignment off: {alignment.description}; training without feature alignment", flush=True)
            alignment.remove()

    trainables: dict[str, torch.nn.Module] = {"unet": model.unet, "image_encoder": model.image_encoder}
    if alignment is not None and alignment.active:
        trainables["projector"] = alignment.projector
    parameters = [p for m in trainables.values() for p in m.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    lr_scheduler = get_scheduler(LR_SCHEDULES[config.lr_schedule], optimizer, num_warmup_steps=config.warmup_steps,
                                 num_training_steps=config.steps)
    model.mask_autoencoder.to(accelerator.device)
    if alignment is not None and alignment.active:
        alignment.teacher.to(accelerator.device)
    prepared = accelerator.prepare(*trainables.values(), optimizer, lr_scheduler)
    optimizer, lr_scheduler = prepared[-2], prepared[-1]
    # What the forward pass calls: under several processes these are the DDP-wrapped modules
    # (gradients are synchronised through them); ``model`` keeps the plain ones for saving.
    wrapped = dict(zip(trainables, prepared[:-2]))
    if alignment is not None and alignment.active:
        alignment.projector = wrapped["projector"]
    model.train()
    model.mask_autoencoder.eval()

    ema = EMAModel(model.unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, power=2 / 3) if config.ema else None
    if ema is not None:
        ema.to(accelerator.device)

    start_step, best_val_dice = 0, None
    if config.resume:
        checkpoint = latest_checkpoint(config.run_dir)
        if checkpoint is None:
            raise LeafError(f"--resume: no checkpoint in '{config.run_dir / 'checkpoints'}'")
        loaded = load_checkpoint(checkpoint, trainables, optimizer)
        lr_scheduler.load_state_dict(loaded.state.lr_scheduler)
        start_step, best_val_dice = loaded.state.step, loaded.state.best_val_dice
        if ema is not None and loaded.ema_tensors is not None:
            names = [n for n, _ in model.unet.named_parameters()]
            ema.shadow_params = [loaded.ema_tensors[n].to(accelerator.device) for n in names]
            ema.optimization_step = loaded.state.ema_optimization_step
    elif config.run_dir.exists() and (config.run_dir / "checkpoints").exists():
        log.info("starting afresh in %s (use --resume to continue)", config.run_dir)

    reporter = ProgressReporter(config.run_dir / "train_log.jsonl", config.steps, config.progress_jsonl,
                                enabled=accelerator.is_main_process, initial_step=start_step)
    reporter.emit("start", total_steps=config.steps, start_step=start_step, device=str(accelerator.device),
                  alignment=alignment.description if alignment else "off", train_images=len(pairs), val_images=len(val_images))
    describe_card(model, config, alignment, dataset, len(pairs))

    if config.init_model is not None and val_images and start_step == 0:
        # The starting model is candidate zero: a fine-tune that does not beat it on val returns it
        # unchanged, so fine-tuning never lowers val Dice (the app compares versions on this number).
        best_val_dice = validate(model, val_images, None)
        reporter.emit("val", step=0, val_dice=best_val_dice)
        if accelerator.is_main_process:
            save_model(model, config, None, 0, {"val_dice": best_val_dice})
    global_batch = config.batch_size * accelerator.num_processes
    mask_cache = MaskLatentCache()
    try:
        for step in range(start_step, config.steps):
            losses = train_step(model, wrapped, pairs, config, accelerator, optimizer, lr_scheduler, parameters,
                                alignment, mask_cache, step, global_batch)
            if ema is not None:
                ema.step(model.unet.parameters())
            reporter.emit("step", step=step + 1, total_steps=config.steps, lr=lr_scheduler.get_last_lr()[0], **losses)
            done = step + 1
            if val_images and (done % config.val_every == 0 or done == config.steps):
                val_dice = validate(model, val_images, ema)
                reporter.emit("val", step=done, val_dice=val_dice)
                if best_val_dice is None or val_dice > best_val_dice:
                    best_val_dice = val_dice
                    if accelerator.is_main_process:
                        save_model(model, config, ema, done, {"val_dice": val_dice})
            if done % config.checkpoint_every == 0 and done < config.steps and accelerator.is_main_process:
                state = TrainerState(done, best_val_dice, lr_scheduler.state_dict(), ema.optimization_step if ema else 0)
                ema_tensors = dict(zip([n for n, _ in model.unet.named_parameters()], ema.shadow_params)) if ema else None
                save_checkpoint(config.run_dir, done, trainables, optimizer, state, ema_tensors, config.keep_checkpoints)
        if not val_images and accelerator.is_main_process:
            save_model(model, config, ema, config.steps, {})
    finally:
        if alignment is not None:
            alignment.remove()
    accelerator.wait_for_everyone()
    reporter.emit("done", model_dir=str(config.model_dir), best_val_dice=best_val_dice, steps=config.steps)
    reporter.close()
    return TrainResult(config.model_dir, best_val_dice, config.steps, config)


def train_step(model: LeafModel, wrapped: dict[str, torch.nn.Module], pairs: TrainingPairs, config: TrainConfig, accelerator: Accelerator,
               optimizer: torch.optim.Optimizer, lr_scheduler, parameters: list[torch.nn.Parameter],
               alignment: Alignment | None, mask_cache: MaskLatentCache, step: int, global_batch: int) -> dict[str, float]:
    """One optimizer step (over ``grad_accum`` micro-batches); returns the mean loss terms."""
    totals = {"loss": 0.0, "loss_pred": 0.0, "loss_align": 0.0}
    for micro in range(config.grad_accum):
        generator = torch.Generator().manual_seed(hash_seed(config.seed, step, micro))
        indices = pairs.indices_for_step(step * config.grad_accum + micro, global_batch, config.seed)
        local = indices[accelerator.process_index * config.batch_size : (accelerator.process_index + 1) * config.batch_size]
        images, masks, keys = pairs.batch(local, generator, config.augment)
        images = images.to(accelerator.device)
        timesteps = sample_timesteps(len(local), model.scheduler.config.num_train_timesteps,
                                     config.final_timestep_fraction, generator)
        with accelerator.accumulate(wrapped["unet"], wrapped["image_encoder"]), accelerator.autocast():
            with torch.no_grad():
                mask_latents = mask_cache.latents(keys, masks, lambda m: encode_latent(
                    model.mask_autoencoder, masks_to_autoencoder_input(m.to(accelerator.device)))).to(accelerator.device)
            noise = torch.randn(mask_latents.shape, generator=generator).to(accelerator.device)
            timesteps = timesteps.to(accelerator.device)
            a_t, s_t = signal_and_noise_scales(model.scheduler, timesteps)
            noisy = add_noise(mask_latents, noise, a_t, s_t)
            image_latents = wrapped["image_encoder"](images)
            output = wrapped["unet"](torch.cat([image_latents, noisy], dim=1), timesteps).sample
            target = training_target(model.config.prediction_type, mask_latents, noise, a_t, s_t)
            loss_pred = latent_prediction_loss(output, target)
            loss = loss_pred
            loss_align = torch.zeros((), device=loss.device)
            if alignment is not None and alignment.active:
                loss_align = alignment.loss(images)
                loss = loss + alignment.weight * loss_align
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.grad_clip > 0:
                accelerator.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        if not math.isfinite(loss.item()):
            raise LeafError(f"training diverged at step {step + 1} (loss {loss.item()}); try a lower --lr")
        totals["loss"] += loss.item() / config.grad_accum
        totals["loss_pred"] += loss_pred.item() / config.grad_accum
        totals["loss_align"] += loss_align.item() / config.grad_accum
    return totals


def sample_timesteps(count: int, num_train_timesteps: int, final_fraction: float,
                     generator: torch.Generator) -> torch.Tensor:
    """Uniform timesteps, of which about ``final_fraction`` are replaced by T-1, the one inference uses."""
    timesteps = torch.randint(0, num_train_timesteps, (count,), generator=generator)
    at_final = torch.rand(count, generator=generator) < final_fraction
    return torch.where(at_final, torch.full_like(timesteps, num_train_timesteps - 1), timesteps)


def hash_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across runs and platforms)."""
    import numpy as np

    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def validate(model: LeafModel, val_images: list[LabelledImage], ema: EMAModel | None) -> float:
    """Single-step val Dice (seed 0), with the EMA weights when EMA is on."""
    if ema is not None:
        ema.store(model.unet.parameters())
        ema.copy_to(model.unet.parameters())
    try:
        return evaluate_images(model, val_images, seeds=(0,), channels_last=False).dice
    finally:
        if ema is not None:
            ema.restore(model.unet.parameters())
        model.train()
        model.mask_autoencoder.eval()


def describe_card(model: LeafModel, config: TrainConfig, alignment: Alignment | None, dataset: DatasetFolder,
                  n_train: int) -> None:
    card = model.card
    if config.name:
        card.name = config.name
    if config.init_model is not None:
        card.parent = str(config.init_model)
    card.training_data = f"{dataset.root} ({n_train} train images)"
    card.alignment = "off" if alignment is None else (f"on, lambda={alignment.weight}, {alignment.description}"
                                                       if alignment.active else f"off: {alignment.description}")
    card.teacher = "none" if alignment is None or not alignment.active else str(config.teacher)
    card.notes = [n for n in card.notes if not n.startswith("alignment")]
    if alignment is not None and not alignment.active:
        card.notes.append(f"alignment requested but off: {alignment.description}")


def save_model(model: LeafModel, config: TrainConfig, ema: EMAModel | None, step: int, metrics: dict[str, float]) -> None:
    """Save the (EMA) model as the current best; the previous best stays until this one is complete."""
    if ema is not None:
        ema.store(model.unet.parameters())
        ema.copy_to(model.unet.parameters())
    try:
        model.card.steps = _parent_steps(config) + step
        model.card.metrics = dict(metrics)  # a parent's metrics do not describe this model
        model.save_pretrained(config.model_dir)
    finally:
        if ema is not None:
            ema.restore(model.unet.parameters())


def _parent_steps(config: TrainConfig) -> int:
    from leaf_core.model.config import ModelCard

    return ModelCard.load(config.init_model).steps if config.init_model is not None else 0


def remove_run_checkpoints(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
