"""`leaf predict`: masks as PNG (<input stem>.png) at each input's original size.

Images go through the model --batch-size at a time (one encoder, U-Net and decoder call per
batch), on the engine the Predictor picks (--engine, --precision); --ensemble predicts image by image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from leaf_core.cli.inference_args import add_inference_arguments
from leaf_core.cli.training_args import add_device_argument
from leaf_core.errors import InputFileError, LeafError
from leaf_core.inference import Predictor, default_device
from leaf_core.inference.sampling import SINGLE_STEP
from leaf_core.io.folders import list_images
from leaf_core.io.images import read_image
from leaf_core.io.masks import write_label_map_png, write_mask_png
from leaf_core.model import LeafModel

DEFAULT_BATCH = 4  # the best throughput of both presets on a 2-core CPU (benchmarks/README.md)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="predict masks for images or folders", description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=SINGLE_STEP, help="1 = the single LEAF step; N > 1 = N-step DDIM")
    parser.add_argument("--ensemble", type=int, default=1, help="K seeds: mean mask (+ <stem>_uncertainty.png)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="images per model call")
    add_inference_arguments(parser)
    add_device_argument(parser)
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; a folder means every image in it."""
    paths: list[Path] = []
    for item in inputs:
        paths.extend(list_images(item) if item.is_dir() else [item])
    return paths


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.ensemble < 1 or args.batch_size < 1:
        raise LeafError("--steps, --ensemble and --batch-size must be at least 1")
    paths = expand_inputs(args.inputs)
    if not paths:
        raise LeafError("no images found in the given inputs")
    predictor = Predictor(LeafModel.from_pretrained(args.model), device=args.device or default_device(),
                          precision=args.precision, engine=args.engine, model_dir=args.model)
    print(f"predicting with {predictor.engine_label}", file=sys.stderr)
    failed = 0
    batch_size = 1 if args.ensemble > 1 else args.batch_size
    with tqdm(total=len(paths), desc="predicting", unit="image", file=sys.stderr) as progress:
        for start in range(0, len(paths), batch_size):
            readable = []
            for path in paths[start:start + batch_size]:
                try:
                    readable.append((path, read_image(path).rgb))
                except InputFileError as error:
                    tqdm.write(f"skipped: {error}", file=sys.stderr)
                    failed += 1
            if readable:
                write_predictions(predictor, readable, args)
            progress.update(len(paths[start:start + batch_size]))
    print(f"wrote {len(paths) - failed} mask(s) to {args.out}" + (f"; {failed} input(s) failed" if failed else ""))
    return 2 if failed else 0


def write_predictions(predictor: Predictor, images: list[tuple[Path, np.ndarray]], args: argparse.Namespace) -> None:
    """Predict and write the masks (and uncertainty maps) of a batch of read images."""
    if args.ensemble > 1:
        for path, rgb in images:
            predictor.set_image(rgb)
            ensemble = predictor.predict_ensemble(args.ensemble, args.steps, args.seed)
            uncertainty = np.round(ensemble.uncertainty * 255).astype(np.uint8)
            write_label_map_png(uncertainty, args.out / f"{path.stem}_uncertainty.png")
            write_mask_png(ensemble.mask, args.out / f"{path.stem}.png")
        return
    for (path, _), prediction in zip(images, predictor.predict_batch([rgb for _, rgb in images], args.seed, args.steps)):
        write_mask_png(prediction.mask, args.out / f"{path.stem}.png")
