"""How fast a clinic with no model gets a useful one (issue 13): the app's "Train first model" job
on k corrections of each shared dataset, timed, then scored on the dataset's test split.

    python benchmarks/cold_start.py [--datasets kvasir-seg,ph2,drishti-gs,covid-qu-ex] [--ks 10,20,50,100]
                                    [--ordered-k 20] [--threads 2]

For each dataset and k, the first k images of a seeded shuffle of its train split are saved as
corrections into a new project (CorrectionStore, as the app saves them), and the job the app runs
(leaf_core.project.model_jobs.prepare_job with first_model_settings(k)) runs as a separate
process, exactly as JobRunner starts it. Wall and CPU minutes are the training process's; test
Dice and IoU are per image at the original size (single step, seed 0). The project's salt is
fixed by --seed, so a run repeats with the same val split. "--ordered-k 20" adds k=20
chosen by "Next image to correct": the k=10 model scores the rest of the train split by mean
ensemble uncertainty, and its 10 least certain images join the first 10 (the random k=20 run is
the comparison, same training seed). Results: benchmarks/results/cold_start.json, cold_start.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DATA_ROOT, RESULTS, command_line, csv_list, machine, set_threads, write_json

DATASETS = ("kvasir-seg", "ph2", "drishti-gs", "covid-qu-ex")
TASK_OF = {"kvasir-seg": "colonoscopy", "ph2": "dermoscopy", "drishti-gs": "fundus", "covid-qu-ex": "chest_xray"}
KS = [10, 20, 50, 100]  # corrections per first model, as issue 13 asks
ENSEMBLE = 4  # seeds per image when scoring, as the app's uncertainty job


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--datasets", type=csv_list, default=list(DATASETS))
    parser.add_argument("--ks", type=lambda s: [int(v) for v in csv_list(s)], default=list(KS))
    parser.add_argument("--ordered-k", type=int, default=20, help="k chosen by Next image to correct (0: skip)")
    parser.add_argument("--pool", type=int, default=200, help="uncorrected train images the ordering scores")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the training job (the app: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle that picks the corrections")
    parser.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE",
                        help="recipe search only: replace a field of first_model_settings(k), e.g. steps=800")
    parser.add_argument("--extra", default="", help="recipe search only: more `leaf train` flags, e.g. '--no-ema'")
    parser.add_argument("--tag", default="", help="name of this recipe in the results (default: the app's)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "cold_start.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "cold_start.png")
    return parser.parse_args(argv)


def recipe(k: int, overrides: list[str]):
    """The app's settings for a first model on k corrections, with the search's overrides."""
    from leaf_core.project.first_model import first_model_settings

    settings = first_model_settings(k)
    fields = {f.name: f.type for f in dataclasses.fields(settings)}
    changes = {}
    for item in overrides:
        name, value = item.split("=", 1)
        if name not in fields:
            raise SystemExit(f"--override: no setting {name!r}; known: {sorted(fields)}")
        changes[name] = None if value == "None" else (float(value) if "." in value or "e" in value else int(value))
    return dataclasses.replace(settings, **changes)


def make_project(folder: Path, dataset, ids: list[str], task: str, seed: int):
    """A project holding the ground-truth masks of ``ids`` as corrections, saved as the app saves
    them; its salt is fixed by ``seed`` so that the job's val split repeats."""
    from leaf_core.io.masks import read_mask
    from leaf_core.project.store import CorrectionStore

    store = CorrectionStore.create(folder, salt=f"cold-start-{seed}")
    for image_id in ids:
        store.save_correction(dataset.image_path(image_id), read_mask(dataset.mask_path(image_id)), None, None,
                              "cold-start benchmark", task=task)
    return store


def run_first_model_job(store, settings, threads: int, extra: list[str]) -> dict:
    """Run the app's job (its command, in its staging folder); its wall and CPU minutes and model folder."""
    import os

    from leaf_core.project.job_progress import JobDone, ProgressParser, Validation
    from leaf_core.project.model_jobs import prepare_job, produced_model_dir

    job = prepare_job(store, None, settings, None)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([*job.command, *extra], cwd=job.staging_dir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"the first-model job failed:\n{result.stderr[-3000:]}")
    parser = ProgressParser()
    events = parser.feed(result.stdout) + parser.finish()
    done = next(e for e in events if isinstance(e, JobDone))
    return {
        "model_dir": produced_model_dir(job, done),
        "wall_min": wall / 60,
        "cpu_min": (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / 60,
        "best_val_dice": done.best_val_dice,
        "val_curve": [[e.step, e.val_dice] for e in events if isinstance(e, Validation)],
        "command": [*job.command[3:], *extra],
    }


def test_scores(model_dir: Path, dataset) -> dict:
    from leaf_core.evaluation import evaluate_images, load_labelled_images
    from leaf_core.model import LeafModel

    images, _ = load_labelled_images(dataset, "test")
    result = evaluate_images(LeafModel.from_pretrained(model_dir), images, seeds=(0,))
    return {"test_dice": result.dice, "test_iou": result.iou, "n_test": result.n_images}


def least_certain(model_dir: Path, dataset, pool: list[str], count: int) -> tuple[list[str], float]:
    """The ``count`` images of ``pool`` the model is least sure about, as Next image to correct ranks
    them (mean ensemble uncertainty), and the minutes the scoring took."""
    from leaf_core.inference import Predictor
    from leaf_core.io.images import read_image
    from leaf_core.model import LeafModel
    from leaf_core.uncertainty import uncertainty_score

    predictor = Predictor(LeafModel.from_pretrained(model_dir))
    start = time.perf_counter()
    scores = {}
    for image_id in pool:
        predictor.set_image(read_image(dataset.image_path(image_id)).rgb)
        scores[image_id] = uncertainty_score(predictor.predict_ensemble(ENSEMBLE).uncertainty)
    ranked = sorted(pool, key=lambda i: -scores[i])
    return ranked[:count], (time.perf_counter() - start) / 60


def one_run(args, dataset_name: str, k: int, ids: list[str], selection: str, work: Path, extra: list[str]) -> dict:
    from leaf_core.io.dataset_folder import DatasetFolder

    dataset = DatasetFolder(args.data_root / dataset_name)
    settings = recipe(k, args.override)
    folder = work / f"{dataset_name}-k{k}-{selection}"
    shutil.rmtree(folder, ignore_errors=True)
    with make_project(folder / "project", dataset, ids, TASK_OF[dataset_name], args.seed) as store:
        job = run_first_model_job(store, settings, args.threads, extra)
    record = {"dataset": dataset_name, "k": k, "selection": selection, "settings": dataclasses.asdict(settings),
              **{key: value for key, value in job.items() if key != "model_dir"}, **test_scores(job["model_dir"], dataset)}
    record["model_dir"] = str(job["model_dir"])
    print(f"{dataset_name:12s} k={k:<4d} {selection:11s} test Dice {record['test_dice']:.3f}  IoU {record['test_iou']:.3f}"
          f"  val {record['best_val_dice'] or float('nan'):.3f}  {record['wall_min']:.1f} min wall, "
          f"{record['cpu_min']:.1f} CPU min", flush=True)
    return record


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    set_threads(1)  # this process only prepares and scores; the job gets --threads
    from leaf_core.io.dataset_folder import DatasetFolder

    extra = args.extra.split()
    tag = args.tag or "app default"
    work = args.work or Path(tempfile.mkdtemp(prefix="leaf-cold-start-"))
    report = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    invocation = {"benchmark_command": command_line(__file__, argv), "machine": machine(), "threads": args.threads,
                  "draw_seed": args.seed}
    for name in args.datasets:
        train_ids = DatasetFolder(args.data_root / name).split("train")
        order = [train_ids[i] for i in np.random.default_rng(args.seed).permutation(len(train_ids))]
        models = {}
        for k in args.ks:
            if k > len(train_ids):
                print(f"{name}: skip k={k}, its train split has {len(train_ids)} images", flush=True)
                continue
            record = one_run(args, name, k, order[:k], "random", work, extra)
            models[k] = Path(record.pop("model_dir"))
            _store(report, {**record, "recipe": tag, **invocation}, args.out)
        if args.ordered_k and args.ordered_k // 2 in models:
            base = args.ordered_k // 2
            pool = order[base: base + args.pool]
            chosen, scoring_min = least_certain(models[base], DatasetFolder(args.data_root / name), pool,
                                                args.ordered_k - base)
            record = one_run(args, name, args.ordered_k, order[:base] + chosen, "uncertainty", work, extra)
            record.pop("model_dir")
            _store(report, {**record, "recipe": tag, "scoring_min": scoring_min, "pool": len(pool), **invocation}, args.out)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    plot(report, args.plot)
    return report


def _store(report: dict, record: dict, out: Path) -> None:
    """Add a run (replacing an earlier one of the same dataset, k, selection, recipe and draw of
    corrections) and save."""
    def key(run: dict) -> tuple:
        return run["dataset"], run["k"], run["selection"], run.get("recipe"), run.get("draw_seed", 0)

    report["runs"] = [r for r in report["runs"] if key(r) != key(record)]
    report["runs"].append(record)
    write_json(out, report)


def plot(report: dict, path: Path) -> None:
    """Test Dice against k and against CPU minutes, one line per dataset (the app's recipe).

    CPU minutes, not wall: they survive a machine shared with other work, and on an idle 2-core
    machine the job's wall minutes are about half of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in report["runs"] if r.get("recipe") == "app default"]
    if not runs:
        return
    figure, (by_k, by_minutes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(r["dataset"] for r in runs):
        series = sorted((r for r in runs if r["dataset"] == name and r["selection"] == "random"), key=lambda r: r["k"])
        line, = by_k.plot([r["k"] for r in series], [r["test_dice"] for r in series], "o-")
        by_minutes.plot([r["cpu_min"] for r in series], [r["test_dice"] for r in series], "o-", color=line.get_color(), label=name)
        for r in (r for r in runs if r["dataset"] == name and r["selection"] == "uncertainty"):
            by_k.plot([r["k"]], [r["test_dice"]], "*", markersize=12, color=line.get_color())
    for axis, label in ((by_k, "corrections (k)"), (by_minutes, "CPU minutes of the training job (2 threads)")):
        axis.set_xlabel(label)
        axis.set_ylabel("test Dice")
        axis.grid(alpha=0.3)
    by_k.set_xscale("log")
    by_k.set_xticks(KS, [str(k) for k in KS])
    by_minutes.legend(title="dataset\n(* = 10 of the k\nchosen by Next image)", fontsize=8, title_fontsize=8,
                      loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle("Cold start: the app's first model on k corrections (2-core CPU)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
    sys.exit(0)
