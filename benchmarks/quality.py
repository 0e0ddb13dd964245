"""Issue 3's quality figure: train the `cpu` preset on kvasir-seg, select on val, report test Dice.

    python benchmarks/quality.py [--steps 1500] [--resolution 128] [--threads N]

Prints the figures and writes benchmarks/results/quality.json (with the command that made it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from leaf_core.training.config import LR_SCHEDULES

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "kvasir-seg")
    parser.add_argument("--autoencoder", default=str(SHARED / "weights" / "taesd"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--lr", type=float, default=None, help="default: the preset's")
    parser.add_argument("--lr-schedule", choices=sorted(LR_SCHEDULES), default=None, help="default: the preset's")
    parser.add_argument("--final-timestep-fraction", type=float, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/leaf-quality-run"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "quality.json")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from leaf_core.evaluation import evaluate_images, load_labelled_images
    from leaf_core.io.dataset_folder import DatasetFolder
    from leaf_core.model import LeafModel, ModelSources
    from leaf_core.training import TrainConfig, train

    config = TrainConfig(data=args.data, run_dir=args.run_dir, model_dir=args.run_dir / "model", preset="cpu",
                         sources=ModelSources(autoencoder=args.autoencoder), resolution=args.resolution,
                         steps=args.steps, lr=args.lr, lr_schedule=args.lr_schedule,
                         final_timestep_fraction=args.final_timestep_fraction, seed=args.seed,
                         val_every=args.val_every, checkpoint_every=args.steps + 1)
    start = time.time()
    result = train(config)
    train_minutes = (time.time() - start) / 60
    model = LeafModel.from_pretrained(result.model_dir)
    test_images, _ = load_labelled_images(DatasetFolder(args.data), "test")
    start = time.time()
    test = evaluate_images(model, test_images, seeds=(0,))
    figures = {
        "command": "python benchmarks/quality.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": args.data.name, "preset": "cpu", "resolution": args.resolution, "steps": args.steps,
        "learning_rate": result.config.lr, "lr_schedule": result.config.lr_schedule, "seed": args.seed,
        "final_timestep_fraction": result.config.final_timestep_fraction,
        "best_val_dice": result.best_val_dice,
        "test_dice": test.dice, "test_iou": test.iou, "n_test_images": test.n_images,
        "train_minutes": round(train_minutes, 1), "test_seconds": round(time.time() - start, 1),
        "torch_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "target_test_dice": 0.80,
    }
    print(json.dumps(figures, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    main()
