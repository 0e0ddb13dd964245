"""`leaf import-dataset NAME SOURCE_DIR OUT_DIR`: one of the paper's datasets into our layout."""

from __future__ import annotations

import argparse

from leaf_core.io.importers import IMPORTERS, import_dataset


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the import-dataset sub-command."""
    parser = subparsers.add_parser(
        "import-dataset",
        help="import REFUGE2, CVC-ClinicDB, QaTa-COV19 or ISIC 2018 from its published layout",
        description="Convert a dataset's published download into images/, masks/ (0/255 PNG), "
        "splits.json (the paper's split, seeded) and SOURCE.md. Broken files are skipped and listed.",
    )
    parser.add_argument("name", choices=sorted(IMPORTERS), help="dataset name")
    parser.add_argument("source_dir", help="the folder holding the dataset as downloaded")
    parser.add_argument("out_dir", help="a new or empty folder for our layout")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random split (default 0)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Run the import and print its summary; exit code 0 when anything was imported."""
    summary = import_dataset(args.name, args.source_dir, args.out_dir, seed=args.seed)
    print(summary)
    return 0
