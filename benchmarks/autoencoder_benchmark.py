"""Stage one against TAESD: mask reconstruction Dice (the ceiling of any LEAF model built on an
autoencoder) and the val Dice of a short LEAF `cpu`-preset run on each, all on a CPU.

    python benchmarks/autoencoder_benchmark.py [--ae-steps 150] [--leaf-steps 120] [--threads 1]

Mask reconstruction Dice: val masks resized to the resolution, encoded, decoded, thresholded at
0.5, mean Dice over masks; reported at the resolution and at each mask's original size (the
probability resized back, as LEAF's evaluation does). Our autoencoder is trained on kvasir-seg
train only; ph2 val is a dataset it never saw. The LEAF runs differ only in the autoencoder
(hence also the image encoder, a copy of its encoder). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from leaf_core.evaluation import load_labelled_images  # noqa: E402
from leaf_core.inference.predictor import probability_to_size  # noqa: E402
from leaf_core.io.dataset_folder import DatasetFolder  # noqa: E402
from leaf_core.metrics import dice_score  # noqa: E402
from leaf_core.model.autoencoder import load_autoencoder  # noqa: E402
from leaf_core.model.builder import ModelSources  # noqa: E402
from leaf_core.training import TrainConfig, train  # noqa: E402
from leaf_core.training.autoencoder_config import AutoencoderTrainConfig  # noqa: E402
from leaf_core.training.autoencoder_trainer import (  # noqa: E402
    new_autoencoder, reconstruct_masks, train_autoencoder,
)
from leaf_core.training.pairs import TrainingPairs  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
DATA = SHARED / "data"
TAESD = SHARED / "weights" / "taesd"


def mask_dice(autoencoder, pairs: TrainingPairs, originals: dict[str, np.ndarray]) -> dict[str, float]:
    """Reconstruction Dice at the training resolution and at each mask's original size."""
    probabilities = reconstruct_masks(autoencoder, pairs.masks)
    at_resolution = [dice_score(p >= 0.5, m) for p, m in zip(probabilities, pairs.masks)]
    at_original = [dice_score(probability_to_size(torch.from_numpy(p), *originals[i].shape) >= 0.5, originals[i])
                   for p, i in zip(probabilities, pairs.ids)]
    return {"at_resolution": float(np.mean(at_resolution)), "at_original_size": float(np.mean(at_original))}


def leaf_run(data: Path, autoencoder: str, work: Path, args: argparse.Namespace) -> dict:
    config = TrainConfig(
        data=data, run_dir=work, model_dir=work / "model", preset="cpu", sources=ModelSources(autoencoder=autoencoder),
        resolution=args.resolution, steps=args.leaf_steps, batch_size=4, lr=args.leaf_lr, warmup_steps=20,
        ema=False, val_every=args.leaf_steps, checkpoint_every=10**9, device="cpu", seed=0,
    )
    start = time.perf_counter()
    result = train(config)
    return {"val_dice": result.best_val_dice, "steps": args.leaf_steps, "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ae-steps", type=int, default=150, help="stage-one steps (batch 4 masks + 4 images)")
    parser.add_argument("--leaf-steps", type=int, default=120, help="steps of each LEAF cpu-preset run")
    parser.add_argument("--leaf-lr", type=float, default=2e-4)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--width", type=int, default=32, help="stage-one channels per block")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a 2-core machine shared with other jobs)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "autoencoder.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep the trained autoencoder and models here")
    args = parser.parse_args(argv)
    if not TAESD.is_dir() or not (DATA / "kvasir-seg").is_dir():
        print(f"needs {TAESD} and {DATA / 'kvasir-seg'} (../shared beside the repo)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    begin = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="leaf-ae-bench-"))

    datasets = {}
    for name in ("kvasir-seg", "ph2"):
        folder = DatasetFolder(DATA / name)
        pairs = TrainingPairs.load(folder, "val", args.resolution, show_progress=False)
        originals = {im.image_id: im.mask for im in load_labelled_images(folder, "val")[0]}
        datasets[name] = (pairs, originals)

    def reconstruction(autoencoder) -> dict[str, dict[str, float]]:
        return {name: mask_dice(autoencoder, *pair) for name, pair in datasets.items()}

    stage_one = AutoencoderTrainConfig(data=DATA / "kvasir-seg", out=work / "stage-one", resolution=args.resolution,
                                       width=args.width, steps=args.ae_steps, val_every=max(1, args.ae_steps // 3))
    results: dict = {"random_init": {"mask_reconstruction_dice": reconstruction(new_autoencoder(stage_one))}}
    taesd = load_autoencoder(TAESD)
    results["taesd"] = {"mask_reconstruction_dice": reconstruction(taesd),
                        "parameters": sum(p.numel() for p in taesd.parameters())}

    start = time.perf_counter()
    trained = train_autoencoder(stage_one)
    ae_seconds = round(time.perf_counter() - start, 1)
    ours = load_autoencoder(trained.autoencoder_dir)
    results["stage_one"] = {"mask_reconstruction_dice": reconstruction(ours),
                            "parameters": sum(p.numel() for p in ours.parameters()),
                            "train_seconds": ae_seconds, "settings": stage_one.as_json()}

    results["taesd"]["leaf_cpu"] = leaf_run(DATA / "kvasir-seg", str(TAESD), work / "leaf-taesd", args)
    results["stage_one"]["leaf_cpu"] = leaf_run(DATA / "kvasir-seg", str(trained.autoencoder_dir), work / "leaf-stage-one", args)

    report = {
        "command": "python benchmarks/autoencoder_benchmark.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": args.threads, "torch": torch.__version__,
                    "python": platform.python_version(), "note": "2-core CPU shared with other jobs; no GPU"},
        "budget": f"stage one: {args.ae_steps} steps x (4 masks + 4 images) at {args.resolution} px on kvasir-seg train "
                  f"({ae_seconds:.0f} s on this CPU); each LEAF run: {args.leaf_steps} steps, batch 4, lr {args.leaf_lr}, "
                  f"no EMA, no alignment, val Dice on kvasir-seg val (100 images, original size, seed 0)",
        "mask_reconstruction": "val masks resized to the resolution, encoded, decoded, thresholded at 0.5; mean Dice, "
                               "at the resolution and with the probability resized back to each original mask",
        "results": results,
        "total_seconds": round(time.perf_counter() - begin, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print_table(results, args)
    print(f"\nwritten to {args.out} ({report['total_seconds']:.0f} s)")
    return 0


def print_table(results: dict, args: argparse.Namespace) -> None:
    print(f"\n{'autoencoder':<14} {'kvasir val':>11} {'(orig)':>8} {'ph2 val':>9} {'(orig)':>8} {'LEAF val Dice':>14}")
    for name in ("random_init", "taesd", "stage_one"):
        recon = results[name]["mask_reconstruction_dice"]
        leaf = results[name].get("leaf_cpu", {}).get("val_dice")
        print(f"{name:<14} {recon['kvasir-seg']['at_resolution']:>11.4f} {recon['kvasir-seg']['at_original_size']:>8.4f} "
              f"{recon['ph2']['at_resolution']:>9.4f} {recon['ph2']['at_original_size']:>8.4f} "
              f"{'-' if leaf is None else f'{leaf:.4f}':>14}")
    print(f"(mask reconstruction Dice at {args.resolution} px and at original size; LEAF: {args.leaf_steps} steps)")


if __name__ == "__main__":
    sys.exit(main())
