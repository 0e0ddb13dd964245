"""`leaf finetune`: continue training a model on a corrections folder; MODEL_DIR is never touched."""

from __future__ import annotations

import argparse
from pathlib import Path

from leaf_core.cli.run_training import run_training
from leaf_core.cli.training_args import add_training_arguments, training_config
from leaf_core.errors import LeafError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("finetune", help="fine-tune an existing model", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="model folder to start from (read only)")
    parser.add_argument("--out", type=Path, required=True, help="new model folder (training log in OUT/training/)")
    add_training_arguments(parser, steps_default=300)
    parser.set_defaults(func=run, warmup_steps=20, val_every=50, checkpoint_every=100)


def run(args: argparse.Namespace) -> int:
    if args.out.resolve() == args.model.resolve():
        raise LeafError(f"--out '{args.out}' is the model being fine-tuned; choose a new folder")
    config = training_config(args, run_dir=args.out / "training", model_dir=args.out, init_model=args.model)
    return run_training(config)
