"""Arguments shared by `leaf train` and `leaf finetune`, and the TrainConfig they make."""

from __future__ import annotations

import argparse
from pathlib import Path

from leaf_core.training.config import LR_SCHEDULES, TrainConfig


def add_training_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """Options every training run takes, with the defaults of ``defaults`` (a TrainConfig)."""
    parser.add_argument("--data", type=Path, required=True, help="dataset folder: images/, masks/, splits.json")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="samples per process and step (the global batch is this times the processes)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the preset's; paper 4e-5, cpu 3e-4)")
    parser.add_argument("--lr-schedule", choices=sorted(LR_SCHEDULES), default=None,
                        help="after warm-up: constant (paper) or cosine decay to 0 (default: the preset's)")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    parser.add_argument("--grad-clip", type=float, default=defaults.grad_clip)
    parser.add_argument("--grad-accum", type=int, default=defaults.grad_accum, help="gradient accumulation steps")
    parser.add_argument("--no-ema", dest="ema", action="store_false",
                        help="save raw weights instead of the EMA of the U-Net and the image encoder")
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay)
    parser.add_argument("--align-weight", type=float, default=None,
                        help="lambda of the feature-alignment loss, 0 = off (default: paper 1.0, cpu 0)")
    parser.add_argument("--teacher", default=None, help="vision encoder for alignment: hub id or local folder "
                        "(default: the preset's DINOv2)")
    parser.add_argument("--final-timestep-fraction", type=float, default=None,
                        help="share of training samples at t=T-1, the single inference step; the rest are "
                        "uniform (default: the preset's; paper 0)")
    parser.add_argument("--align-block", type=int, default=defaults.align_block, help="U-Net down block to align")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--val-every", type=int, default=defaults.val_every)
    parser.add_argument("--select-from-step", type=int, default=defaults.select_from_step,
                        help="keep the best val model only from this step on (earlier validations are logged)")
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None,
                        help="default: bf16 on a GPU, none on the CPU")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: CUDA when present")
    parser.add_argument("--no-augment", dest="augment", action="store_false", help="no random flips")
    parser.add_argument("--quarter-turns", action="store_true",
                        help="random quarter turns besides the flips (all eight poses of a square)")
    parser.add_argument("--scale-jitter", type=float, default=defaults.scale_jitter,
                        help="random square crops of (1 - S) to 1 of the side, resized back (0: none)")
    parser.add_argument("--colour-jitter", type=float, default=defaults.colour_jitter,
                        help="random brightness, contrast and saturation, each times 1 +- up to S (0: none)")
    parser.add_argument("--frozen-image-encoder-layers", type=int, default=defaults.frozen_image_encoder_layers,
                        help="keep the image encoder's first N layers as initialised (no backward through "
                        "them: faster on a CPU; TAESD has 15); default: all train")
    parser.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    parser.add_argument("--name", default=None, help="model name for the model card")
    parser.add_argument("--progress-jsonl", action="store_true",
                        help="print progress as JSON lines on stdout (for the app and other tools)")


def training_settings(args: argparse.Namespace) -> dict[str, object]:
    """The TrainConfig fields the shared options set (all but data and the folders)."""
    return dict(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay, warmup_steps=args.warmup_steps, grad_clip=args.grad_clip,
        grad_accum=args.grad_accum, ema=args.ema, ema_decay=args.ema_decay, align_weight=args.align_weight,
        teacher=args.teacher, final_timestep_fraction=args.final_timestep_fraction, align_block=args.align_block,
        seed=args.seed, val_every=args.val_every, select_from_step=args.select_from_step,
        checkpoint_every=args.checkpoint_every,
        mixed_precision=args.mixed_precision, device=args.device, augment=args.augment, quarter_turns=args.quarter_turns,
        scale_jitter=args.scale_jitter, colour_jitter=args.colour_jitter,
        resume=args.resume,
        frozen_image_encoder_layers=args.frozen_image_encoder_layers,
        name=args.name, progress_jsonl=args.progress_jsonl,
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: CUDA when present")


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' or '0-9' to a tuple of ints."""
    try:
        if "-" in text and "," not in text:
            first, last = (int(x) for x in text.split("-"))
            return tuple(range(first, last + 1))
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like '0,1,2' or '0-9', got {text!r}") from None
