"""`leaf predict`: masks as PNG (<input stem>.png) at each input's original size."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from leaf_core.cli.training_args import add_device_argument, add_precision_argument
from leaf_core.errors import InputFileError, LeafError
from leaf_core.inference import Predictor, default_device
from leaf_core.inference.sampling import SINGLE_STEP
from leaf_core.io.folders import list_images
from leaf_core.io.images import read_image
from leaf_core.io.masks import write_label_map_png, write_mask_png
from leaf_core.model import LeafModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="predict masks for images or folders", description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=SINGLE_STEP, help="1 = the single LEAF step; N > 1 = N-step DDIM")
    parser.add_argument("--ensemble", type=int, default=1, help="K seeds: mean mask (+ <stem>_uncertainty.png)")
    add_precision_argument(parser)
    add_device_argument(parser)
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; a folder means every image in it."""
    paths: list[Path] = []
    for item in inputs:
        paths.extend(list_images(item) if item.is_dir() else [item])
    return paths


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.ensemble < 1:
        raise LeafError("--steps and --ensemble must be at least 1")
    predictor = Predictor(LeafModel.from_pretrained(args.model), device=args.device or default_device(),
                          precision=args.precision)
    paths = expand_inputs(args.inputs)
    if not paths:
        raise LeafError("no images found in the given inputs")
    failed = 0
    for path in tqdm(paths, desc="predicting", file=sys.stderr):
        try:
            image = read_image(path)
        except InputFileError as error:
            tqdm.write(f"skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        predictor.set_image(image.rgb)
        if args.ensemble > 1:
            ensemble = predictor.predict_ensemble(args.ensemble, args.steps, args.seed)
            mask = ensemble.mask
            uncertainty = np.round(ensemble.uncertainty * 255).astype(np.uint8)
            write_label_map_png(uncertainty, args.out / f"{path.stem}_uncertainty.png")
        else:
            mask = predictor.predict(args.seed, args.steps).mask
        write_mask_png(mask, args.out / f"{path.stem}.png")
    print(f"wrote {len(paths) - failed} mask(s) to {args.out}" + (f"; {failed} input(s) failed" if failed else ""))
    return 2 if failed else 0

