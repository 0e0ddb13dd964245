"""`leaf train`: train a new LEAF model; the best model by val Dice goes to RUN_DIR/model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from leaf_core.cli.run_training import run_training
from leaf_core.cli.training_args import add_training_arguments, training_config
from leaf_core.model.builder import ModelSources
from leaf_core.model.parameterization import BETA_SCHEDULES, PREDICTION_TYPES
from leaf_core.model.presets import PRESETS
from leaf_core.training.stage_one import STAGE_ONE_AUTOENCODER, STAGE_ONE_DIR, STAGE_ONE_MESSAGE, STAGE_ONE_STEPS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a new model", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="run folder (log, checkpoints, model/)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--resolution", type=int, default=None, help="input size (default: the preset's)")
    parser.add_argument("--prediction-type", choices=PREDICTION_TYPES, default="sample")
    parser.add_argument("--beta-schedule", choices=BETA_SCHEDULES, default="linear")
    parser.add_argument("--beta-start", type=float, default=0.0015)
    parser.add_argument("--beta-end", type=float, default=0.0155)
    parser.add_argument("--autoencoder", default=None, help="mask autoencoder: folder or hub id (default: the preset's); 'stage-one' = "
                        "train one on --data first (see leaf train-autoencoder); 'random' = untrained, on purpose")
    parser.add_argument("--stage-one-steps", type=int, default=STAGE_ONE_STEPS,
                        help="steps of stage one with --autoencoder stage-one")
    parser.add_argument("--image-encoder", default=None, help="image encoder folder or hub id (default: copy of E)")
    parser.add_argument("--unet", default=None, help="pretrained U-Net folder or hub id (4-channel input is widened)")
    add_training_arguments(parser, steps_default=1500)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.autoencoder == STAGE_ONE_AUTOENCODER:
        args.autoencoder = str(run_stage_one(args))
    config = training_config(
        args, run_dir=args.out, model_dir=args.out / "model", preset=args.preset, resolution=args.resolution,
        prediction_type=args.prediction_type, beta_schedule=args.beta_schedule, beta_start=args.beta_start,
        beta_end=args.beta_end, sources=ModelSources(args.autoencoder, args.image_encoder, args.unet),
    )
    return run_training(config)


def run_stage_one(args: argparse.Namespace) -> Path:
    """Train the mask autoencoder on the same data first; returns its folder (RUN/autoencoder)."""
    from leaf_core.training.autoencoder_config import AutoencoderTrainConfig
    from leaf_core.training.autoencoder_trainer import train_autoencoder

    if args.progress_jsonl:
        print(json.dumps({"event": "notice", "message": STAGE_ONE_MESSAGE}), flush=True)
    else:
        print(STAGE_ONE_MESSAGE, flush=True)
    out = args.out / STAGE_ONE_DIR
    resolution = args.resolution or PRESETS[args.preset].resolution
    train_autoencoder(AutoencoderTrainConfig(data=args.data, out=out, resolution=resolution, steps=args.stage_one_steps,
                                             val_every=max(1, args.stage_one_steps // 4), seed=args.seed,
                                             device=args.device, progress_jsonl=args.progress_jsonl))
    return out
