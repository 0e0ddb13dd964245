"""The LEAF trainer: L1 latent loss (+ lambda * alignment loss), accelerate for devices, mixed
precision, gradient accumulation and several processes (GPUs or machines, `accelerate launch`).

Every process trains on its own share of each global batch (training/step.py); only the main
process reports, validates and writes, while the others wait. Seeds everywhere: the data order,
poses, timesteps, noise and dropout of step s come from (seed, s) alone, so ``resume`` continues
exactly. Validation runs on ``val`` only, through the Predictor (as the app predicts), and keeps
the best-Dice model; EMA averages of the U-Net and the image encoder are validated and saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.utils import broadcast_object_list, set_seed
from diffusers.optimization import get_scheduler

from leaf_core.errors import LeafError
from leaf_core.evaluation import LabelledImage, evaluate_images, load_labelled_images
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.model.builder import build_model
from leaf_core.model.config import ModelCard, train_images_summary
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.presets import PRESETS
from leaf_core.training.alignment import Alignment
from leaf_core.training.checkpoint import TrainerState, latest_checkpoint, load_checkpoint, save_checkpoint
from leaf_core.training.config import LR_SCHEDULES, TrainConfig
from leaf_core.training.distributed import make_accelerator
from leaf_core.training.ema import TrainablesEMA
from leaf_core.training.pairs import MaskLatentCache, TrainingPairs
from leaf_core.training.progress import ALIGNMENT_OFF, ProgressReporter
from leaf_core.training.step import TrainingModules, train_step

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
    return build_model(config.preset, config.sources, config.resolution, config.prediction_type, config.schedule)


def resolve_defaults(config: TrainConfig, model: LeafModel) -> TrainConfig:
    """Fill the settings left to the preset (the paper's for a model of no preset, e.g. imported):
    learning rate, lr schedule, teacher, final-timestep share, and the alignment weight (the
    preset's for a new model; 0 when fine-tuning or for a model of no preset, unless asked for)."""
    preset = PRESETS.get(model.card.preset)
    align_weight = config.align_weight
    if align_weight is None:
        align_weight = preset.align_weight if preset is not None and config.init_model is None else 0.0
    preset = preset or PRESETS["paper"]
    final_fraction = config.final_timestep_fraction
    if final_fraction is None:
        final_fraction = preset.final_timestep_fraction
    return dataclasses.replace(
        config, lr=config.lr if config.lr is not None else preset.learning_rate,
        lr_schedule=config.lr_schedule or preset.lr_schedule, align_weight=align_weight,
        teacher=config.teacher or preset.teacher, final_timestep_fraction=final_fraction,
    )


def train(config: TrainConfig, model: LeafModel | None = None) -> TrainResult:
    """Train (or fine-tune) a model; the best model by val Dice ends up in ``config.model_dir``."""
    accelerator = make_accelerator(config.device, config.mixed_precision, config.grad_accum)
    is_main = accelerator.is_main_process
    set_seed(config.seed)  # the same initial weights on every process
    dataset = DatasetFolder(config.data)
    model = model or prepare_model(config)
    config = resolve_defaults(config, model)
    pairs = TrainingPairs.load(dataset, "train", model.config.resolution, show_progress=is_main)
    val_images, _ = load_labelled_images(dataset, "val")
    if not val_images and is_main:
        log.warning("no val split in %s: the last model is kept (no checkpoint selection)", config.data)

    model.image_encoder.freeze_first_layers(config.frozen_image_encoder_layers)
    setup = make_alignment(model, config)
    alignment = setup.alignment
    trainables: dict[str, torch.nn.Module] = {"unet": model.unet, "image_encoder": model.image_encoder}
    if alignment is not None:
        trainables["projector"] = alignment.projector
    parameters = [p for m in trainables.values() for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    # Not prepared: accelerate would step it once per process per optimizer step.
    lr_scheduler = get_scheduler(LR_SCHEDULES[config.lr_schedule], optimizer, num_warmup_steps=config.warmup_steps,
                                 num_training_steps=config.steps)
    model.mask_autoencoder.to(accelerator.device)
    if alignment is not None:
        alignment.teacher.to(accelerator.device)
    *wrapped, optimizer = accelerator.prepare(*trainables.values(), optimizer)
    # The forward pass calls the wrapped modules (DDP under several processes: gradients are
    # averaged through them); ``model`` keeps the plain ones for validation and saving.
    wrapped = dict(zip(trainables, wrapped))
    if alignment is not None:
        alignment.projector = wrapped["projector"]
    modules = TrainingModules(model, wrapped["unet"], wrapped["image_encoder"], parameters, alignment)
    set_train_mode(model)
    ema = TrainablesEMA({"unet": model.unet, "image_encoder": model.image_encoder}, config.ema_decay,
                        accelerator.device) if config.ema else None

    start_step, best_val_dice = 0, None
    if config.resume:
        checkpoint = latest_checkpoint(config.run_dir)
        if checkpoint is None:
            raise LeafError(f"--resume: no checkpoint in '{config.run_dir / 'checkpoints'}'")
        loaded = load_checkpoint(checkpoint, trainables, optimizer)
        lr_scheduler.load_state_dict(loaded.state.lr_scheduler)
        start_step, best_val_dice = loaded.state.step, loaded.state.best_val_dice
        if ema is not None:
            if loaded.ema is None:
                raise LeafError(f"cannot resume from '{checkpoint}': it has no EMA state (trained with --no-ema?)")
            try:
                ema.load(*loaded.ema)
            except (KeyError, ValueError) as error:
                raise LeafError(f"cannot resume from '{checkpoint}': its EMA state does not fit ({error})") from error
    elif (config.run_dir / "checkpoints").exists() and is_main:
        log.info("starting afresh in %s (use --resume to continue)", config.run_dir)

    reporter = ProgressReporter(config.run_dir / "train_log.jsonl", config.steps, config.progress_jsonl,
                                enabled=is_main, initial_step=start_step)
    reporter.emit("start", total_steps=config.steps, start_step=start_step, device=str(accelerator.device),
                  processes=accelerator.num_processes, global_batch=config.batch_size * accelerator.num_processes,
                  alignment=setup.status, train_images=len(pairs), val_images=len(val_images))
    if setup.unavailable is not None:
        message = f"alignment off: {setup.unavailable}; training without feature alignment"
        reporter.emit(ALIGNMENT_OFF, message=message)
        if is_main:
            log.warning(message)
    describe_card(model, config, setup, len(pairs))

    if config.init_model is not None and val_images and start_step == 0:
        # The starting model is candidate zero: a fine-tune that does not beat it on val returns it
        # unchanged, so fine-tuning never lowers val Dice (the app compares versions on this number).
        if is_main:
            best_val_dice = validate(model, val_images, None)
            reporter.emit("val", step=0, val_dice=best_val_dice)
            save_model(model, config, None, 0, {"val_dice": best_val_dice})
        accelerator.wait_for_everyone()
    mask_cache = MaskLatentCache()
    try:
        for step in range(start_step, config.steps):
            lr = lr_scheduler.get_last_lr()[0]
            losses = train_step(modules, pairs, config, accelerator, optimizer, lr_scheduler, mask_cache, step)
            if ema is not None:
                ema.step()
            done = step + 1
            reporter.emit("step", step=done, total_steps=config.steps, lr=lr, **losses)
            if val_images and (done % config.val_every == 0 or done == config.steps):
                if is_main:
                    val_dice = validate(model, val_images, ema)
                    reporter.emit("val", step=done, val_dice=val_dice)
                    # A few val images can rank an early, undertrained model first by chance.
                    eligible = done >= config.select_from_step or done == config.steps
                    if eligible and (best_val_dice is None or val_dice > best_val_dice):
                        best_val_dice = val_dice
                        save_model(model, config, ema, done, {"val_dice": val_dice})
                accelerator.wait_for_everyone()
            if done % config.checkpoint_every == 0 and done < config.steps:
                if is_main:
                    save_checkpoint(config.run_dir, done, trainables, optimizer,
                                    TrainerState(done, best_val_dice, lr_scheduler.state_dict()),
                                    ema.state() if ema is not None else None, config.keep_checkpoints)
                accelerator.wait_for_everyone()
        if not val_images and is_main:
            save_model(model, config, ema, config.steps, {})
    finally:
        if alignment is not None:
            alignment.remove()
    accelerator.wait_for_everyone()
    best_val_dice = broadcast_object_list([best_val_dice])[0]  # validated on the main process only
    reporter.emit("done", model_dir=str(config.model_dir), best_val_dice=best_val_dice, steps=config.steps)
    reporter.close()
    return TrainResult(config.model_dir, best_val_dice, config.steps, config)


@dataclass
class AlignmentSetup:
    """The run's alignment (None when off), what the card and the start event say of it, and why
    a requested alignment is off (its teacher could not be loaded)."""

    alignment: Alignment | None
    status: str
    unavailable: str | None = None


def make_alignment(model: LeafModel, config: TrainConfig) -> AlignmentSetup:
    """Alignment as asked for: off at weight 0; a teacher that cannot be loaded turns it off, not the run."""
    if config.align_weight <= 0:
        return AlignmentSetup(None, "off")
    if config.teacher is None:
        raise LeafError("--align-weight needs a teacher (--teacher HUB_ID_OR_FOLDER)")
    alignment = Alignment(model.unet, model.latent_size, config.teacher, config.align_block, config.align_weight)
    if alignment.active:
        return AlignmentSetup(alignment, f"on, lambda={alignment.weight}, {alignment.description}")
    alignment.remove()
    return AlignmentSetup(None, f"off: {alignment.description}", alignment.description)


def set_train_mode(model: LeafModel) -> None:
    """Training mode for what trains; the frozen mask autoencoder stays in eval mode."""
    model.train()
    model.mask_autoencoder.eval()


def validate(model: LeafModel, val_images: list[LabelledImage], ema: TrainablesEMA | None) -> float:
    """Single-step val Dice (seed 0), with the EMA weights when EMA is on, predicted exactly as the
    app and `leaf evaluate` predict (the Predictor's channels-last weights included: a layout
    changes bf16 results in the last bits), so the model card's val Dice is theirs."""
    try:
        with ema.swapped_in() if ema is not None else contextlib.nullcontext():
            return evaluate_images(model, val_images, seeds=(0,)).dice
    finally:
        model.to(memory_format=torch.contiguous_format)  # training goes on in the layout it started with
        set_train_mode(model)


def describe_card(model: LeafModel, config: TrainConfig, setup: AlignmentSetup, n_train: int) -> None:
    """Name, lineage, training data and alignment of the model being trained, on its card."""
    card = model.card
    if config.name:
        card.name = config.name
    if config.init_model is not None:
        card.parent = Path(config.init_model).name
    card.training_data = train_images_summary(n_train)
    card.alignment = setup.status
    card.teacher = str(config.teacher) if setup.alignment is not None else "none"
    card.notes = [n for n in card.notes if not n.startswith(("alignment", "image encoder"))]
    if config.frozen_image_encoder_layers:
        card.notes.append(f"image encoder: first {config.frozen_image_encoder_layers} layers kept as initialised")
    if setup.unavailable is not None:
        card.notes.append(f"alignment requested but off: {setup.unavailable}")


def save_model(model: LeafModel, config: TrainConfig, ema: TrainablesEMA | None, step: int,
               metrics: dict[str, float]) -> None:
    """Save the (EMA) model as the current best; the previous best stays until this one is complete."""
    model.card.steps = _parent_steps(config) + step
    model.card.metrics = dict(metrics)  # a parent's metrics do not describe this model
    if ema is None:
        model.save_pretrained(config.model_dir)
        return
    with ema.swapped_in():
        model.save_pretrained(config.model_dir)


def _parent_steps(config: TrainConfig) -> int:
    return ModelCard.load(config.init_model).steps if config.init_model is not None else 0
