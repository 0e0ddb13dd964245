"""LEAF's `cpu` preset against the supervised U-Net a user would pick instead (issue 16).

    python benchmarks/baseline.py                    # the committed results (see README for the cost)
    python benchmarks/baseline.py --datasets ph2 --seeds 1 --resume   # a part, merged into the results

For each dataset and training seed, on the dataset's own splits:

  leaf              `leaf_core.training.train` with the `cpu` preset (as quality.py and reproduce.py)
  unet_equal_steps  MONAI's BasicUNet (benchmarks/supervised_unet.py) at the same resolution, batch,
                    augmentation, batch order and number of optimizer steps
  unet_equal_cpu    the same U-Net trained for the process CPU seconds the LEAF run took

Both keep their best network on `val` and are scored on `test` at each mask's original size. The
U-Net's learning rate and schedule are tuned on `val` only, on the first training seed at equal
steps (a coordinate search: every --tune-lrs with the first schedule, then the other schedules at
the best lr); that seed's equal-steps result is the tuning's winner. Results:
benchmarks/results/baseline.json ({"protocol", "runs", "datasets": {name: {"tuning", "seeds",
"summary"}}}) and baseline.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fcntl
import hashlib
import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_report import markdown_table, plot, summarize  # noqa: E402
from common import DATA_ROOT, RESULTS, TAESD, command_line, csv_list, machine, set_threads, timed  # noqa: E402

DEFAULT_DATASETS = "kvasir-seg,ph2,drishti-gs,covid-qu-ex"


def train_default(name: str):
    """A default of leaf_core's TrainConfig: the LEAF run's setting, shared by the U-Net."""
    from leaf_core.training import TrainConfig

    return next(f.default for f in dataclasses.fields(TrainConfig) if f.name == name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from leaf_core.model.presets import PRESETS
    from supervised_unet import LR_SCHEDULES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding the dataset folders")
    parser.add_argument("--datasets", default=DEFAULT_DATASETS, help="comma-separated dataset folder names")
    parser.add_argument("--seeds", default="0,1", help="training seeds (the first one is tuned on)")
    parser.add_argument("--autoencoder", default=str(TAESD), help="the cpu preset's autoencoder (TAESD folder)")
    parser.add_argument("--resolution", type=int, default=PRESETS["cpu"].resolution, help="default: the cpu preset's")
    parser.add_argument("--steps", type=int, default=train_default("steps"), help="default: the trainer's")
    parser.add_argument("--batch-size", type=int, default=train_default("batch_size"), help="default: the trainer's")
    parser.add_argument("--val-every", type=int, default=train_default("val_every"),
                        help="LEAF validates every N steps; the U-Net as often, evenly over its budget")
    parser.add_argument("--tune-lrs", default="3e-4,1e-3,3e-3", help="U-Net peak learning rates tried on val")
    parser.add_argument("--tune-schedules", default=",".join(LR_SCHEDULES), help="U-Net lr schedules tried on val")
    parser.add_argument("--recipe", default=None, help="LR,SCHEDULE: skip the tuning and use this U-Net recipe")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--out", type=Path, default=RESULTS / "baseline.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "baseline.png")
    parser.add_argument("--resume", action="store_true",
                        help="keep the parts already in --out (same protocol) instead of running them again")
    parser.add_argument("--work-dir", type=Path, default=None, help="LEAF runs (default: a temporary folder)")
    args = parser.parse_args(argv)
    args.datasets, args.seeds = csv_list(args.datasets), [int(s) for s in csv_list(args.seeds)]
    args.tune_lrs, args.tune_schedules = [float(x) for x in csv_list(args.tune_lrs)], csv_list(args.tune_schedules)
    unknown = [s for s in args.tune_schedules if s not in LR_SCHEDULES]
    if unknown or (args.recipe and args.recipe.split(",")[-1] not in LR_SCHEDULES):
        parser.error(f"lr schedules are {LR_SCHEDULES}")
    return args


def protocol(args: argparse.Namespace) -> dict:
    """What makes two runs' results comparable (results of different protocols never mix)."""
    return {"resolution": args.resolution, "steps": args.steps, "batch_size": args.batch_size,
            "val_every": args.val_every, "tune_lrs": args.tune_lrs, "tune_schedules": args.tune_schedules,
            "recipe": args.recipe, "autoencoder": Path(args.autoencoder).name,
            "shared_with_leaf": "train split, resolution, batch, batch order and flips "
                                "(leaf_core.training.pairs.TrainingPairs.batch), val selection, test scoring "
                                "at each mask's original size (leaf_core.inference.preprocessing.probability_to_size)",
            "unet": "monai.networks.nets.BasicUNet(spatial_dims=2, in_channels=3, out_channels=1), from scratch",
            "unet_loss": "monai.losses.DiceCELoss(sigmoid=True)",
            "unet_optimizer": f"AdamW, weight decay {train_default('weight_decay')}, "
                              f"grad clip {train_default('grad_clip')} (the trainer's)"}


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def scores_on_test(dice: float, iou: float, n_images: int) -> dict:
    return {"test_dice": dice, "test_iou": iou, "n_test_images": n_images}


def run_leaf(args: argparse.Namespace, data: Path, seed: int, work: Path, test_images: list) -> dict:
    """Train the cpu preset as the app and `leaf train` do; CPU time of the whole train() call."""
    from leaf_core.evaluation import evaluate_images
    from leaf_core.model import LeafModel, ModelSources
    from leaf_core.training import TrainConfig, train

    run_dir = work / f"{data.name}-leaf-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = TrainConfig(data=data, run_dir=run_dir, model_dir=run_dir / "model", preset="cpu",
                         sources=ModelSources(autoencoder=args.autoencoder), resolution=args.resolution,
                         steps=args.steps, batch_size=args.batch_size, val_every=args.val_every,
                         checkpoint_every=args.steps + 1, seed=seed, device="cpu", name=f"baseline leaf seed {seed}")
    with timed() as clock:
        result = train(config)
    model = LeafModel.from_pretrained(result.model_dir).eval()
    evaluation = evaluate_images(model, test_images, seeds=(0,))
    return {**scores_on_test(evaluation.dice, evaluation.iou, evaluation.n_images), "best_val_dice": result.best_val_dice, "steps": result.steps,
            "cpu_seconds": clock.cpu_s, "cpu_minutes": clock.cpu_s / 60, "wall_minutes": clock.wall_s / 60,
            "parameters": model.inference_parameter_count(),
            "trainable_parameters": parameters(model.unet) + parameters(model.image_encoder),
            "lr": result.config.lr, "lr_schedule": result.config.lr_schedule,
            "final_timestep_fraction": result.config.final_timestep_fraction}


def run_unet(args: argparse.Namespace, data: Path, seed: int, recipe, budget) -> tuple[dict, object]:
    """One U-Net run: its entry (val only) and the network val chose."""
    from supervised_unet import UNetConfig, train_unet

    config = UNetConfig(data=data, resolution=args.resolution, batch_size=args.batch_size, recipe=recipe,
                        budget=budget, validations=-(-args.steps // args.val_every),
                        warmup_fraction=min(1.0, train_default("warmup_steps") / args.steps),
                        weight_decay=train_default("weight_decay"), grad_clip=train_default("grad_clip"),
                        augment=train_default("augment"), seed=seed)
    run = train_unet(config)
    entry = {"best_val_dice": run.best_val_dice, "steps": run.steps, "cpu_seconds": run.cpu_seconds,
             "cpu_minutes": run.cpu_seconds / 60, "wall_minutes": run.wall_seconds / 60,
             "parameters": parameters(run.network), "trainable_parameters": parameters(run.network),
             "lr": recipe.lr, "lr_schedule": recipe.schedule,
             "budget": {"steps": budget.steps} if budget.steps is not None else {"cpu_seconds": budget.cpu_seconds},
             "val_trace": run.val_trace}
    return entry, run.network


def scored(args: argparse.Namespace, entry: dict, network, test_images: list) -> dict:
    """The entry with the test scores of its network (test is scored once, after selection)."""
    from supervised_unet import score

    scores = score(network, test_images, args.resolution)
    return {**scores_on_test(scores.mean_dice, scores.mean_iou, len(scores.dice)), **entry}


def tune(args: argparse.Namespace, data: Path, test_images: list) -> tuple[dict, dict]:
    """Coordinate search on val at equal steps on the first seed: every lr with the first schedule,
    then the other schedules at the best lr. Returns the tuning record and the winner's scored entry."""
    from supervised_unet import Budget, UNetRecipe

    seed, grid, best = args.seeds[0], [], None
    candidates = [UNetRecipe(lr, args.tune_schedules[0]) for lr in args.tune_lrs]
    while candidates:
        for recipe in candidates:
            print(f"[{data.name}] tuning the U-Net on val: lr {recipe.lr:g}, {recipe.schedule}", flush=True)
            entry, network = run_unet(args, data, seed, recipe, Budget(steps=args.steps))
            grid.append(entry)
            if best is None or (entry["best_val_dice"] or 0.0) > (best[1]["best_val_dice"] or 0.0):
                best = (recipe, entry, network)
        tried = {(e["lr"], e["lr_schedule"]) for e in grid}
        candidates = [UNetRecipe(best[0].lr, s) for s in args.tune_schedules if (best[0].lr, s) not in tried]
    recipe, entry, network = best
    tuning = {"seed": seed, "chosen": dataclasses.asdict(recipe), "selected_on": "best val Dice at equal steps",
              "grid": [{k: e[k] for k in ("lr", "lr_schedule", "best_val_dice", "cpu_minutes", "val_trace")}
                       for e in grid]}
    return tuning, scored(args, entry, network, test_images)


class ResultsFile:
    """The results JSON, changed under a lock, so parts run by parallel processes merge into one
    file; results of another protocol are replaced, never mixed with these."""

    def __init__(self, path: Path, protocol: dict) -> None:
        self.path, self.protocol = path, protocol
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        self._lock_path = Path(tempfile.gettempdir()) / f"leaf-baseline-{digest}.lock"

    @contextmanager
    def _locked(self):
        with open(self._lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> dict:
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        return data if data.get("protocol") == self.protocol else {"protocol": self.protocol, "runs": [], "datasets": {}}

    def update(self, change: Callable[[dict], None]) -> dict:
        from common import write_json

        with self._locked():
            data = self.read()
            if not data["runs"] and self.path.exists():
                print(f"{self.path} holds results of another protocol: they are replaced", flush=True)
            change(data)
            for record in data["datasets"].values():
                record["summary"] = summarize(record)
            write_json(self.path, data)
        return data

    def entry(self, dataset: str, seed: int, method: str) -> dict | None:
        return self.read()["datasets"].get(dataset, {}).get("seeds", {}).get(str(seed), {}).get(method)

    def put(self, dataset: str, seed: int | None, method: str, entry: dict) -> None:
        def change(data: dict) -> None:
            record = data["datasets"].setdefault(dataset, {"seeds": {}})
            if seed is None:
                record[method] = entry
            else:
                record["seeds"].setdefault(str(seed), {})[method] = entry
        self.update(change)


def run_dataset(args: argparse.Namespace, name: str, store: ResultsFile, work: Path) -> None:
    """Tuning (or --recipe), then LEAF and both U-Net budgets for every seed; each part is saved
    as it finishes, and with --resume a part already saved is kept."""
    from leaf_core.evaluation import load_labelled_images
    from leaf_core.io.dataset_folder import DatasetFolder
    from supervised_unet import Budget, UNetRecipe

    data = args.data_root / name
    test_images, _ = load_labelled_images(DatasetFolder(data), "test")
    tuning = store.read()["datasets"].get(name, {}).get("tuning") if args.resume else None
    winner_seed = None  # the seed whose equal-steps run this process's tuning already made
    if args.recipe:
        lr, schedule = args.recipe.split(",")
        tuning = {"chosen": {"lr": float(lr), "schedule": schedule}, "selected_on": "--recipe (no tuning)"}
        store.put(name, None, "tuning", tuning)
    elif tuning is None:
        tuning, winner = tune(args, data, test_images)
        store.put(name, None, "tuning", tuning)
        store.put(name, tuning["seed"], "unet_equal_steps", winner)
        winner_seed = tuning["seed"]
    recipe = UNetRecipe(**tuning["chosen"])
    for seed in args.seeds:
        def needed(method: str) -> bool:
            return not args.resume or store.entry(name, seed, method) is None

        if needed("leaf"):
            print(f"[{name}] seed {seed}: LEAF cpu preset, {args.steps} steps at {args.resolution} px", flush=True)
            store.put(name, seed, "leaf", run_leaf(args, data, seed, work, test_images))
        if seed != winner_seed and needed("unet_equal_steps"):
            print(f"[{name}] seed {seed}: U-Net, {args.steps} steps", flush=True)
            entry, network = run_unet(args, data, seed, recipe, Budget(steps=args.steps))
            store.put(name, seed, "unet_equal_steps", scored(args, entry, network, test_images))
        if needed("unet_equal_cpu"):
            budget = store.entry(name, seed, "leaf")["cpu_seconds"]
            print(f"[{name}] seed {seed}: U-Net for LEAF's {budget / 60:.1f} CPU min", flush=True)
            entry, network = run_unet(args, data, seed, recipe, Budget(cpu_seconds=budget))
            store.put(name, seed, "unet_equal_cpu", scored(args, entry, network, test_images))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    set_threads(args.threads)
    store = ResultsFile(args.out, protocol(args))
    run_record = {"id": uuid.uuid4().hex, "command": command_line(__file__, argv), "machine": machine(),
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "datasets": args.datasets, "seeds": args.seeds}
    store.update(lambda data: data["runs"].append(run_record))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="leaf-baseline-"))
    try:
        with timed() as total:
            for name in args.datasets:
                run_dataset(args, name, store, work)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    run_record.update(total_cpu_minutes=total.cpu_s / 60, total_wall_minutes=total.wall_s / 60)

    def finish(data: dict) -> None:
        data["runs"] = [r for r in data["runs"] if r.get("id") != run_record["id"]] + [run_record]
    data = store.update(finish)
    if args.plot:
        plot(data, args.plot)
    print(markdown_table(data))
    print(f"\n{total.wall_s / 60:.1f} min wall, {total.cpu_s / 60:.1f} CPU min; results in {args.out}")
    return data


if __name__ == "__main__":
    main()
