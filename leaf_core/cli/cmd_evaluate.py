"""`leaf evaluate`: mean Dice and IoU of a model on a split, over one or more noise seeds."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from leaf_core.cli.inference_args import add_inference_arguments
from leaf_core.cli.training_args import add_device_argument, parse_seeds
from leaf_core.errors import LeafError
from leaf_core.evaluation import evaluate_images, load_labelled_images
from leaf_core.inference import default_device
from leaf_core.inference.sampling import SINGLE_STEP
from leaf_core.io.atomic import atomic_write_text
from leaf_core.io.dataset_folder import SPLIT_NAMES, DatasetFolder
from leaf_core.model import LeafModel, ModelCard


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="Dice and IoU on a dataset split", description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", choices=SPLIT_NAMES, default="test")
    parser.add_argument("--seeds", type=parse_seeds, default=(0,), help="e.g. 0,1,2 or 0-9")
    parser.add_argument("--steps", type=int, default=SINGLE_STEP, help="1 = the single LEAF step; N > 1 = N-step DDIM")
    add_inference_arguments(parser)
    parser.add_argument("--clip-sample", action=argparse.BooleanOptionalAction, default=None,
                        help="clamp the clean-latent estimate (or not) for this evaluation only, to measure "
                        "whether it helps (default: the model's leaf_config.json setting)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--record", action="store_true",
                        help="record <split>_dice and <split>_iou in the model card (the weights are untouched)")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.record and args.clip_sample is not None:
        raise LeafError("--record writes the model's own score: leave out --clip-sample/--no-clip-sample")
    model = LeafModel.from_pretrained(args.model, device=args.device or default_device())
    if args.clip_sample is not None:
        model.set_schedule(dataclasses.replace(model.config.schedule, clip_sample=args.clip_sample))
    images, skipped = load_labelled_images(DatasetFolder(args.data), args.split)
    if not images:
        raise LeafError(f"no readable image/mask pairs in the '{args.split}' split of {args.data}")
    result = evaluate_images(model, images, seeds=args.seeds, steps=args.steps, precision=args.precision,
                             engine=args.engine, model_dir=args.model)
    report = {**result.as_json(), "split": args.split, "seeds": list(args.seeds), "steps": args.steps,
              "precision": args.precision, "engine": args.engine, "clip_sample": model.config.schedule.clip_sample,
              "model": str(args.model), "skipped": skipped}
    print(f"{args.split}: Dice {result.dice:.4f}  IoU {result.iou:.4f}  over {result.n_images} images"
          f"  (std of Dice over {len(args.seeds)} seeds: {result.dice_std_over_seeds:.4f})")
    if skipped:
        print(f"skipped {len(skipped)} pair(s); see the log")
    if args.record:
        card = ModelCard.load(args.model)
        card.metrics.update({f"{args.split}_dice": result.dice, f"{args.split}_iou": result.iou})
        card.save(args.model)
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
    return 0
