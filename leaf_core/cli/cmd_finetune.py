"""`leaf finetune`: continue training a model on a corrections folder; MODEL_DIR is never touched."""

from __future__ import annotations

import argparse
from pathlib import Path

from leaf_core.cli.run_training import reporting_errors, run_training
from leaf_core.cli.training_args import add_training_arguments, training_settings
from leaf_core.errors import LeafError
from leaf_core.training.config import finetune_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("finetune", help="fine-tune an existing model", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="model folder to start from (read only)")
    parser.add_argument("--out", type=Path, required=True, help="new model folder (training log in OUT/training/)")
    add_training_arguments(parser, finetune_config(Path("."), Path("."), Path(".")))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with reporting_errors(args.progress_jsonl):
        if args.out.resolve() == args.model.resolve():
            raise LeafError(f"--out '{args.out}' is the model being fine-tuned; choose a new folder")
    return run_training(finetune_config(args.data, args.model, args.out, **training_settings(args)))
