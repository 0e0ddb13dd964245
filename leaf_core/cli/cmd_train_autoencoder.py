"""`leaf train-autoencoder`: stage one. Train a small mask autoencoder on a dataset's masks and
images, for when no pretrained one (kl-f8, TAESD) can be had or another latent size is wanted.

The result, OUT (best by val mask reconstruction Dice), is used with `leaf train --autoencoder OUT`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from leaf_core.cli.run_training import reporting_errors
from leaf_core.training.autoencoder_config import ARCHITECTURES, AutoencoderTrainConfig

DEFAULTS = AutoencoderTrainConfig(data=Path("."), out=Path("."))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train-autoencoder", help="train a mask autoencoder (stage one)", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="dataset folder: images/, masks/, splits.json")
    parser.add_argument("--out", type=Path, required=True, help="autoencoder folder to write (vae/, train_log.jsonl)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default=DEFAULTS.architecture,
                        help="tiny: diffusers AutoencoderTiny (TAESD layout); kl: a small AutoencoderKL")
    parser.add_argument("--latent-channels", type=int, default=DEFAULTS.latent_channels)
    parser.add_argument("--downsample", type=int, default=DEFAULTS.downsample,
                        help="image pixels per latent pixel (power of two; 8 = 3 downsamplings)")
    parser.add_argument("--width", type=int, default=DEFAULTS.width, help="channels per block (TAESD: 64)")
    parser.add_argument("--resolution", type=int, default=DEFAULTS.resolution,
                        help="training size (use the LEAF model's resolution)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="masks (and as many images) per step")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr)
    parser.add_argument("--warmup-steps", type=int, default=DEFAULTS.warmup_steps)
    parser.add_argument("--image-weight", type=float, default=DEFAULTS.image_weight, help="weight of the image L1")
    parser.add_argument("--dice-weight", type=float, default=DEFAULTS.dice_weight, help="weight of the mask soft-Dice loss")
    parser.add_argument("--kl-weight", type=float, default=DEFAULTS.kl_weight, help="weight of the KL term (kl only)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--val-every", type=int, default=DEFAULTS.val_every)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: CUDA when present")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--name", default=None, help="name for the autoencoder card")
    parser.add_argument("--progress-jsonl", action="store_true",
                        help="print progress as JSON lines on stdout (for the app and other tools)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from leaf_core.training.autoencoder_trainer import train_autoencoder

    with reporting_errors(args.progress_jsonl):
        config = AutoencoderTrainConfig(
            data=args.data, out=args.out, architecture=args.architecture, latent_channels=args.latent_channels,
            downsample=args.downsample, width=args.width, resolution=args.resolution, steps=args.steps,
            batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, image_weight=args.image_weight,
            dice_weight=args.dice_weight, kl_weight=args.kl_weight, seed=args.seed, val_every=args.val_every,
            augment=args.augment, device=args.device, progress_jsonl=args.progress_jsonl, name=args.name,
        )
        result = train_autoencoder(config)
    if not args.progress_jsonl:
        dice = "n/a" if result.best_val_dice is None else f"{result.best_val_dice:.4f}"
        print(f"autoencoder saved to {result.autoencoder_dir} (val mask reconstruction Dice {dice}); "
              f"use it with: leaf train --autoencoder {result.autoencoder_dir}")
    return 0
