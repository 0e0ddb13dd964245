"""`leaf quantize`: int8 graphs of a model for OpenVINO, calibrated on a dataset's val images,
kept only where the masks stay (leaf_core/inference/engines/quantization.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from leaf_core.errors import LeafError
from leaf_core.evaluation import load_labelled_images
from leaf_core.inference.engines.openvino_engine import load_openvino
from leaf_core.inference.engines.quantization import MAX_DICE_CHANGE, MIN_PIXEL_AGREEMENT
from leaf_core.inference.engines.selection import INSTALL_HINT
from leaf_core.io.atomic import atomic_write_text
from leaf_core.io.dataset_folder import SPLIT_NAMES, DatasetFolder


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("quantize", help="int8 graphs for OpenVINO, calibrated on val images",
                                   description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="a dataset folder (e.g. a project's exported dataset)")
    parser.add_argument("--split", choices=SPLIT_NAMES, default="val", help="calibrate and check on this split")
    parser.add_argument("--max-images", type=int, default=None, help="use at most this many images of the split")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if load_openvino() is None:
        raise LeafError(f"int8 runs on OpenVINO, which is not installed ({INSTALL_HINT})")
    from leaf_core.inference.engines.quantization import calibrate

    images, _ = load_labelled_images(DatasetFolder(args.data), args.split)
    images = images[: args.max_images] if args.max_images else images
    if not images:
        raise LeafError(f"no readable image/mask pairs in the '{args.split}' split of {args.data}")
    report = calibrate(args.model, [im.rgb for im in images], [im.mask for im in images])
    for trial in report.trials:
        print(f"int8 {'+'.join(trial.graphs)}: Dice {trial.dice:.4f} (fp32 {report.fp32_dice:.4f}), "
              f"pixels agreeing {trial.pixel_agreement:.4f}: {'kept' if trial.passed else 'refused'}")
    speed = report.seconds_per_image
    verdict = "accepted" if report.accepted else "not accepted"
    print(f"{verdict}: int8 {', '.join(report.int8_graphs) or 'nothing'} (pixels agreeing at least "
          f"{MIN_PIXEL_AGREEMENT}, Dice change at most {MAX_DICE_CHANGE}); "
          f"s per image: torch fp32 {speed['torch_fp32']:.3f}, OpenVINO fp32 {speed['openvino_fp32']:.3f}, "
          f"int8 {speed['openvino_int8']:.3f}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(report.as_json(), indent=1) + "\n")
    return 0
