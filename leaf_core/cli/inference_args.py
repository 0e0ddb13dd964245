"""Options of the commands that predict (`leaf predict`, `leaf evaluate`): engine and precision."""

from __future__ import annotations

import argparse

from leaf_core.inference.engines.selection import DEFAULT_ENGINE, ENGINE_PRECISIONS, ENGINES
from leaf_core.inference.precision import DEFAULT_PRECISION


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine and --precision, with the Predictor's defaults (as the app uses them)."""
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help="auto: OpenVINO when it is installed and faster here, else torch")
    parser.add_argument("--precision", choices=ENGINE_PRECISIONS, default=DEFAULT_PRECISION,
                        help="auto: int8 where `leaf quantize` accepted it, else bf16 where the CPU runs it "
                             "natively, else fp32")
