"""`leaf import-weights`: the authors' LEAF model or the CompVis checkpoints as our model folder.

    leaf import-weights --from reference DIR_OR_HUB_ID --out MODEL_DIR
    leaf import-weights --from compvis --vae KL_F8_CKPT --unet LDM_CKPT --out MODEL_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from leaf_core.errors import LeafError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-weights",
        help="import the reference LEAF pipeline (folder or hub id) or the CompVis kl-f8 / LDM checkpoints",
        description="Convert weights made by other code into a LEAF model folder. --from reference takes the "
        "authors' pipeline folder or hub id (e.g. pearisli/LEAF-QaTa-COV19; unet_ema/ is used when present). "
        "--from compvis builds a `paper`-preset model (untrained for segmentation) from the original kl-f8 and "
        "LDM model.ckpt files. Pickled files are read with torch.load(weights_only=True) only.",
    )
    parser.add_argument("--from", dest="source_format", choices=("reference", "compvis"), required=True)
    parser.add_argument("source", nargs="?", help="--from reference: the pipeline folder or hub id")
    parser.add_argument("--vae", type=Path, help="--from compvis: the kl-f8 model.ckpt (default: the LDM "
                        "checkpoint's own first_stage_model)")
    parser.add_argument("--unet", type=Path, help="--from compvis: the LDM model.ckpt (e.g. lsun_churches)")
    parser.add_argument("--out", type=Path, required=True, help="the new model folder")
    parser.add_argument("--name", help="model name for the card (default: from the source)")
    parser.add_argument("--task", help="what the model segments, for the card (e.g. 'QaTa-COV19 lesions')")
    parser.add_argument("--progress-jsonl", action="store_true",
                        help="print progress as JSON lines on stdout (start, step per stage, done or error)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return convert(args)
    except LeafError as error:
        if args.progress_jsonl:
            print(json.dumps({"event": "error", "message": str(error)}), flush=True)
        raise


def convert(args: argparse.Namespace) -> int:
    from leaf_core.convert import import_compvis, import_reference
    from leaf_core.convert.reference import IMPORT_STAGES

    if args.out.exists() and any(args.out.iterdir()):
        raise LeafError(f"--out '{args.out}' exists and is not empty; choose a new folder")
    if args.source_format == "reference":
        if not args.source or args.vae or args.unet:
            raise LeafError("--from reference takes one SOURCE (folder or hub id) and no --vae/--unet")
        on_stage = None
        if args.progress_jsonl:
            print(json.dumps({"event": "start", "total_steps": len(IMPORT_STAGES), "device": "cpu"}), flush=True)
            on_stage = lambda index, label: print(json.dumps(  # noqa: E731
                {"event": "step", "step": index, "total_steps": len(IMPORT_STAGES), "label": label}), flush=True)
        model = import_reference(args.source, args.out, name=args.name, task=args.task, on_stage=on_stage)
    else:
        if args.source or not args.unet:
            raise LeafError("--from compvis takes --unet LDM_CKPT (and --vae KL_F8_CKPT), no SOURCE")
        model = import_compvis(args.vae, args.unet, args.out, name=args.name, task=args.task)
    if args.progress_jsonl:
        print(json.dumps({"event": "done", "model_dir": str(args.out), "best_val_dice": None}), flush=True)
    else:
        print(f"wrote {model.card.label} ({model.inference_parameter_count() / 1e6:.1f} M parameters) to {args.out}")
    return 0
