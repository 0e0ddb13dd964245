"""`leaf train`: train a new LEAF model; the best model by val Dice goes to RUN_DIR/model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from leaf_core.cli.run_training import reporting_errors, run_training
from leaf_core.cli.training_args import add_training_arguments, training_settings
from leaf_core.errors import LeafError
from leaf_core.model.builder import ModelSources
from leaf_core.model.parameterization import BETA_SCHEDULES, PREDICTION_TYPES, NoiseScheduleConfig
from leaf_core.model.presets import PRESETS
from leaf_core.training.config import TrainConfig
from leaf_core.training.distributed import launched_processes
from leaf_core.training.stage_one import STAGE_ONE_AUTOENCODER, STAGE_ONE_DIR, STAGE_ONE_MESSAGE, STAGE_ONE_STEPS


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = TrainConfig(data=Path("."), run_dir=Path("."), model_dir=Path("."))
    schedule = defaults.schedule
    parser = subparsers.add_parser("train", help="train a new model", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="run folder (log, checkpoints, model/)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=defaults.preset)
    parser.add_argument("--resolution", type=int, default=None, help="input size (default: the preset's)")
    parser.add_argument("--prediction-type", choices=PREDICTION_TYPES, default=defaults.prediction_type)
    parser.add_argument("--beta-schedule", choices=BETA_SCHEDULES, default=schedule.beta_schedule)
    parser.add_argument("--beta-start", type=float, default=schedule.beta_start)
    parser.add_argument("--beta-end", type=float, default=schedule.beta_end)
    parser.add_argument("--clip-sample", action=argparse.BooleanOptionalAction, default=schedule.clip_sample,
                        help="clamp the clean-latent estimate to +-clip-sample-range at inference, as the authors' "
                        "DDIM scheduler does (recorded in the model's config; default off)")
    parser.add_argument("--clip-sample-range", type=float, default=schedule.clip_sample_range)
    parser.add_argument("--autoencoder", default=None, help="mask autoencoder: folder or hub id (default: the preset's); 'stage-one' = "
                        "train one on --data first (see leaf train-autoencoder); 'random' = untrained, on purpose")
    parser.add_argument("--stage-one-steps", type=int, default=STAGE_ONE_STEPS,
                        help="steps of stage one with --autoencoder stage-one")
    parser.add_argument("--image-encoder", default=None, help="image encoder folder or hub id (default: copy of E)")
    parser.add_argument("--unet", default=None, help="pretrained U-Net folder or hub id (4-channel input is widened)")
    add_training_arguments(parser, defaults)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with reporting_errors(args.progress_jsonl):  # stage one's errors too
        if args.autoencoder == STAGE_ONE_AUTOENCODER:
            args.autoencoder = str(run_stage_one(args))
        schedule = NoiseScheduleConfig(beta_schedule=args.beta_schedule, beta_start=args.beta_start, beta_end=args.beta_end,
                                       clip_sample=args.clip_sample, clip_sample_range=args.clip_sample_range)
    return run_training(TrainConfig(
        data=args.data, run_dir=args.out, model_dir=args.out / "model", preset=args.preset, resolution=args.resolution,
        prediction_type=args.prediction_type, schedule=schedule,
        sources=ModelSources(args.autoencoder, args.image_encoder, args.unet), **training_settings(args),
    ))


def run_stage_one(args: argparse.Namespace) -> Path:
    """Train the mask autoencoder on the same data first; returns its folder (RUN/autoencoder)."""
    from leaf_core.training.autoencoder_config import AutoencoderTrainConfig
    from leaf_core.training.autoencoder_trainer import train_autoencoder

    if launched_processes() > 1:
        raise LeafError("--autoencoder stage-one trains in one process: run `leaf train-autoencoder --data DATA "
                        "--out AE_DIR` first, then launch the processes with --autoencoder AE_DIR")
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
