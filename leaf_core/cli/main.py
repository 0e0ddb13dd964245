"""The `leaf` command: one module per sub-command, each with ``register(subparsers)``.

Every sub-command's handler returns an exit code. A LeafError becomes one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from leaf_core.errors import LeafError

COMMAND_MODULES = (
    "leaf_core.cli.cmd_train",
    "leaf_core.cli.cmd_finetune",
    "leaf_core.cli.cmd_evaluate",
    "leaf_core.cli.cmd_predict",
    "leaf_core.cli.cmd_quantize",
    "leaf_core.cli.cmd_import_dataset",
    "leaf_core.cli.cmd_train_autoencoder",
    "leaf_core.cli.cmd_import_weights",
)

log = logging.getLogger("leaf")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command that is installed."""
    parser = argparse.ArgumentParser(prog="leaf", description="LEAF: single-step latent diffusion segmentation")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `leaf` console script."""
    from leaf_core.logging_setup import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (LeafError, ValueError) as error:
        # ValueError: a setting out of range (e.g. a resolution that is not a multiple of 32)
        log.debug("leaf %s failed", args.command, exc_info=True)
        print(f"leaf {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"leaf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
