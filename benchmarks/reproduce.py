"""Reproduce the paper's comparisons with our own code, on the data we have here (issue 9).

    python benchmarks/reproduce.py                       # the full protocol (see README for its cost)
    python benchmarks/reproduce.py --datasets kvasir-seg,ph2 --steps 150 --resolution 64

Every setting trains the `cpu` preset with the same seed, the same steps and the same batch (the
same CPU budget per run), selects its checkpoint on `val` and is scored on `test`:

  epsilon, v_prediction, sample        the parameterization ablation (paper Table 2)
  sample+align                         x0 + feature alignment with --teacher; by default a
                                       random-init DINOv2-small (no pretrained weights offline)
  sample+scaled_linear                 the noise schedule (Appendix B), same beta range
  ddim50, ensemble5                    the `sample` model sampled with 50 DDIM steps, and the
                                       mean of 5 seeds (no extra training)

Dice and IoU are means over test images at each mask's original size; dice_std_over_seeds is the
standard deviation over inference seeds of the mean Dice (paper Table 4). Results go to
benchmarks/results/reproduce.json ({dataset: {setting: {...}}}) and reproduce_meta.json (the
command, the configuration, the machine, the alignment evidence), plus PNG plots.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DATA_ROOT, RESULTS, TAESD, command_line, csv_list, machine, set_threads, timed, write_json,
)

TRAINED_SETTINGS: dict[str, dict] = {
    "epsilon": {"prediction_type": "epsilon"},
    "v_prediction": {"prediction_type": "v_prediction"},
    "sample": {"prediction_type": "sample"},
    "sample+align": {"prediction_type": "sample", "align": True},
    "sample+scaled_linear": {"prediction_type": "sample", "beta_schedule": "scaled_linear"},
}
SAMPLED_SETTINGS = ("ddim50", "ensemble5")  # from the `sample` model
ALL_SETTINGS = (*TRAINED_SETTINGS, *SAMPLED_SETTINGS)
DEFAULT_DATASETS = "kvasir-seg,ph2,drishti-gs,covid-qu-ex"
RANDOM_TEACHER_LABEL = "random-init DINOv2-small (no pretrained weights offline)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding the dataset folders")
    parser.add_argument("--datasets", default=DEFAULT_DATASETS, help="comma-separated dataset folder names")
    parser.add_argument("--settings", default=",".join(ALL_SETTINGS), help="comma-separated; ddim50/ensemble5 need sample")
    parser.add_argument("--autoencoder", default=str(TAESD), help="the cpu preset's autoencoder (TAESD folder)")
    parser.add_argument("--teacher", default=None,
                        help="alignment teacher (DINOv2 folder or hub id); default: a random-init DINOv2-small")
    parser.add_argument("--align-weight", type=float, default=1.0, help="lambda of sample+align (paper: 1.0 on CVC)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200, help="training steps of every run (the same budget)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=None, help="default: the trainer's (the preset's) learning rate")
    parser.add_argument("--warmup-steps", type=int, default=None, help="default: a tenth of --steps, at most 100")
    parser.add_argument("--val-every", type=int, default=None, help="default: steps / 5")
    parser.add_argument("--seed", type=int, default=0, help="training seed, the same for every run")
    parser.add_argument("--seeds", type=int, default=10, help="inference seeds per single-step evaluation")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--ddim-seeds", type=int, default=2, help="inference seeds of the DDIM evaluation")
    parser.add_argument("--ensemble", type=int, default=5, help="seeds averaged per ensemble prediction")
    parser.add_argument("--ensemble-repeats", type=int, default=3, help="independent ensembles (for their spread)")
    parser.add_argument("--max-test-images", type=int, default=None, help="score only the first N test images")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--tag", default="", help="suffix of the result files: reproduce<tag>.json")
    parser.add_argument("--work-dir", type=Path, default=None, help="runs and models (default: a temporary folder)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.datasets = csv_list(args.datasets)
    args.settings = csv_list(args.settings)
    unknown = [s for s in args.settings if s not in ALL_SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; expected some of {list(ALL_SETTINGS)}")
    if any(s in SAMPLED_SETTINGS for s in args.settings) and "sample" not in args.settings:
        parser.error("ddim50 and ensemble5 sample the `sample` model: add sample to --settings")
    return args


def random_teacher(folder: Path) -> Path:
    """A DINOv2-small architecture with random weights, saved like a downloaded one."""
    from transformers import Dinov2Config, Dinov2Model

    if not (folder / "config.json").exists():
        import torch

        torch.manual_seed(0)
        config = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                              patch_size=14, image_size=518)
        Dinov2Model(config).save_pretrained(folder, safe_serialization=True)
    return folder


def train_setting(args: argparse.Namespace, data: Path, work: Path, name: str, teacher: str | None) -> dict:
    """Train one setting; returns its model folder, CPU minutes and the alignment loss trace."""
    from leaf_core.model.builder import ModelSources
    from leaf_core.model.parameterization import NoiseScheduleConfig
    from leaf_core.training import TrainConfig, train

    spec = TRAINED_SETTINGS[name]
    run_dir = work / name
    shutil.rmtree(run_dir, ignore_errors=True)
    config = TrainConfig(
        data=data, run_dir=run_dir, model_dir=run_dir / "model", preset="cpu",
        sources=ModelSources(autoencoder=args.autoencoder), resolution=args.resolution,
        prediction_type=spec["prediction_type"], schedule=NoiseScheduleConfig(beta_schedule=spec.get("beta_schedule", "linear")),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        warmup_steps=args.warmup_steps if args.warmup_steps is not None else min(100, max(1, args.steps // 10)),
        val_every=args.val_every or max(1, args.steps // 5), checkpoint_every=args.steps + 1,
        align_weight=args.align_weight if spec.get("align") else 0.0,
        teacher=teacher if spec.get("align") else None, seed=args.seed, device="cpu", name=f"reproduce {name}",
    )
    with timed() as clock:
        result = train(config)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    start = next((r for r in log if r["event"] == "start"), {})
    return {"model_dir": config.model_dir, "cpu_minutes": clock.cpu_s / 60.0, "wall_minutes": clock.wall_s / 60.0,
            "best_val_dice": result.best_val_dice, "steps": result.steps, "lr": steps[-1].get("lr") if steps else None,
            "alignment": start.get("alignment", "off"),
            "loss_align": [r.get("loss_align", 0.0) for r in steps], "loss_pred": [r.get("loss_pred", 0.0) for r in steps]}


def score(evaluation, per_image_s: float) -> dict:
    return {"dice": evaluation.dice, "iou": evaluation.iou, "dice_std_over_seeds": evaluation.dice_std_over_seeds,
            "dice_per_seed": evaluation.dice_per_seed, "n_images": evaluation.n_images,
            "inference_cpu_s_per_image": per_image_s}


def evaluate(model, images, seeds: int, steps: int = 1) -> dict:
    from leaf_core.evaluation import evaluate_images

    with timed() as clock:
        evaluation = evaluate_images(model, images, seeds=tuple(range(seeds)), steps=steps)
    return score(evaluation, clock.cpu_s / (len(images) * seeds))


def evaluate_ensemble(model, images, k: int, repeats: int, batch_size: int = 8) -> dict:
    """Mean probability of k seeds, thresholded; ``repeats`` independent ensembles give the spread."""
    import numpy as np

    from leaf_core.inference.predictor import decode_masks, encode_images
    from leaf_core.inference.predictor import probability_to_size
    from leaf_core.inference.sampling import noise_seed
    from leaf_core.metrics import SegmentationScores

    model.eval()
    per_repeat = [SegmentationScores() for _ in range(repeats)]
    with timed() as clock:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            latents = encode_images(model, [im.rgb for im in chunk])
            for repeat, scores in enumerate(per_repeat):
                members = [decode_masks(model, latents, [noise_seed(repeat, f"{im.image_id}/ensemble{i}") for im in chunk])
                           for i in range(k)]
                mean = sum(members) / k
                for image, probability in zip(chunk, mean):
                    full = probability_to_size(probability, *image.mask.shape)
                    scores.add(image.image_id, full >= model.config.threshold, image.mask)
    dice = [s.mean_dice for s in per_repeat]
    return {"dice": float(np.mean(dice)), "iou": float(np.mean([s.mean_iou for s in per_repeat])),
            "dice_std_over_seeds": float(np.std(dice)), "dice_per_seed": dice, "n_images": len(images),
            "inference_cpu_s_per_image": clock.cpu_s / (len(images) * repeats)}


def alignment_evidence(trained: dict, models: dict) -> dict:
    """The mechanism works (its loss falls) and costs nothing at inference (same parameters)."""
    import numpy as np

    if "sample+align" not in trained:
        return {}
    trace = trained["sample+align"]["loss_align"]
    window = max(1, len(trace) // 10)
    evidence = {"alignment": trained["sample+align"]["alignment"],
                "loss_align_first": float(np.mean(trace[:window])) if trace else None,
                "loss_align_last": float(np.mean(trace[-window:])) if trace else None,
                "loss_align_window_steps": window}
    if "sample" in models:
        evidence["parameters_sample"] = sum(p.numel() for p in models["sample"].parameters())
        evidence["parameters_sample+align"] = sum(p.numel() for p in models["sample+align"].parameters())
    return evidence


def run_dataset(args: argparse.Namespace, name: str, work: Path, teacher: str | None,
                on_result=None) -> tuple[dict, dict, dict]:
    from leaf_core.evaluation import load_labelled_images
    from leaf_core.io.dataset_folder import DatasetFolder
    from leaf_core.model.leaf_model import LeafModel

    data = args.data_root / name
    test_images, skipped = load_labelled_images(DatasetFolder(data), "test")
    test_images = test_images[: args.max_test_images] if args.max_test_images else test_images
    results: dict[str, dict] = {}
    trained: dict[str, dict] = {}
    models: dict[str, LeafModel] = {}
    # The sampled settings need the sample model: train it first; results are saved after each setting.
    order = sorted(args.settings, key=lambda s: s != "sample")  # stable: sample first, then as given
    for setting in order:
        if setting in TRAINED_SETTINGS:
            print(f"[{name}] training {setting} ({args.steps} steps at {args.resolution} px)", flush=True)
            trained[setting] = train_setting(args, data, work / name, setting, teacher)
            models[setting] = LeafModel.from_pretrained(trained[setting]["model_dir"]).eval()
            entry = evaluate(models[setting], test_images, args.seeds)
            entry["best_val_dice"] = trained[setting]["best_val_dice"]
        elif setting == "ddim50":
            entry = evaluate(models["sample"], test_images, args.ddim_seeds, steps=args.ddim_steps)
            entry["sampler"] = f"DDIM {args.ddim_steps} steps, the sample model"
        else:
            entry = evaluate_ensemble(models["sample"], test_images, args.ensemble, args.ensemble_repeats)
            entry["sampler"] = f"mean of {args.ensemble} single-step seeds, the sample model"
        source = trained[setting if setting in TRAINED_SETTINGS else "sample"]
        results[setting] = {**entry, "steps": source["steps"], "cpu_minutes": source["cpu_minutes"]}
        print(f"[{name}] {setting}: test Dice {entry['dice']:.4f} (std over seeds {entry['dice_std_over_seeds']:.4f})",
              flush=True)
        if on_result is not None:
            on_result(results)
    meta = {"test_images": len(test_images), "skipped": skipped,
            "train_logs": {s: {"best_val_dice": t["best_val_dice"], "wall_minutes": t["wall_minutes"], "lr": t["lr"],
                               "loss_pred_first": t["loss_pred"][0] if t["loss_pred"] else None,
                               "loss_pred_last": t["loss_pred"][-1] if t["loss_pred"] else None}
                           for s, t in trained.items()},
            **alignment_evidence(trained, models)}
    if "sample+align" in models and "sample" in models:
        timing = {s: evaluate(models[s], test_images[:8], 1)["inference_cpu_s_per_image"] for s in ("sample", "sample+align")}
        meta["inference_cpu_s_per_image_sample"] = timing["sample"]
        meta["inference_cpu_s_per_image_sample+align"] = timing["sample+align"]
    return results, meta, {"models": models, "test_images": test_images}


def plot_dice(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(results)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        settings = list(results[dataset])
        for x, setting in enumerate(settings):
            entry = results[dataset][setting]
            ax.bar(x, entry["dice"], color="#9ecae1" if setting not in SAMPLED_SETTINGS else "#fdd0a2")
            ax.scatter([x] * len(entry["dice_per_seed"]), entry["dice_per_seed"], s=8, color="black", zorder=3)
            ax.errorbar(x, entry["dice"], yerr=entry["dice_std_over_seeds"], color="black", capsize=3)
        ax.set_xticks(range(len(settings)), settings, rotation=45, ha="right", fontsize=8)
        ax.set_title(dataset)
        ax.set_ylabel("test Dice (dots: one per inference seed)")
        low = min(min(e["dice_per_seed"]) for e in results[dataset].values())
        ax.set_ylim(max(0.0, low - 0.1), min(1.0, max(e["dice"] for e in results[dataset].values()) + 0.05))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_predictions(dataset: str, held: dict, path: Path, n: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leaf_core.evaluation import predict_probabilities

    images = held["test_images"][:n]
    columns = [s for s in ("epsilon", "sample", "sample+align") if s in held["models"]]
    fig, axes = plt.subplots(len(images), 2 + len(columns), figsize=(2.2 * (2 + len(columns)), 2.2 * len(images)),
                             squeeze=False)
    predictions = {s: predict_probabilities(held["models"][s], [im.rgb for im in images], [0] * len(images))
                   for s in columns}
    for row, image in enumerate(images):
        panels = [("image", image.rgb, None), ("ground truth", image.mask, "gray")]
        panels += [(s, predictions[s][row] >= 0.5, "gray") for s in columns]
        for ax, (title, picture, cmap) in zip(axes[row], panels):
            ax.imshow(picture, cmap=cmap)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=9)
    fig.suptitle(f"{dataset} test images: single-step predictions (seed 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_table(results: dict) -> None:
    print(f"\n{'dataset':<12} {'setting':<22} {'Dice':>7} {'IoU':>7} {'std/seeds':>9} {'steps':>6} {'cpu min':>8} {'s/img':>7}")
    for dataset, settings in results.items():
        for setting, e in settings.items():
            print(f"{dataset:<12} {setting:<22} {e['dice']:7.4f} {e['iou']:7.4f} {e['dice_std_over_seeds']:9.4f} "
                  f"{e['steps']:6d} {e['cpu_minutes']:8.2f} {e['inference_cpu_s_per_image']:7.3f}")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    set_threads(args.threads)
    import torch

    torch.manual_seed(args.seed)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="leaf-reproduce-"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    teacher, teacher_label = args.teacher, f"teacher {args.teacher}"
    if "sample+align" in args.settings and teacher is None:
        teacher, teacher_label = str(random_teacher(work / "teacher-random-dinov2-small")), RANDOM_TEACHER_LABEL
    results: dict[str, dict] = {}
    meta: dict = {"command": command_line(__file__, argv), "machine": machine(), "teacher": teacher_label if "sample+align" in args.settings else None,
                  "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k not in ("out_dir", "work_dir")},
                  "datasets": {}}
    with timed() as total:
        for dataset in args.datasets:
            def save_partial(partial: dict, dataset: str = dataset) -> None:
                write_json(args.out_dir / f"reproduce{args.tag}.json", {**results, dataset: partial})
            results[dataset], meta["datasets"][dataset], held = run_dataset(args, dataset, work, teacher, save_partial)
            if not args.no_plots and held["models"]:
                plot_predictions(dataset, held, args.out_dir / f"reproduce{args.tag}_predictions_{dataset}.png")
            write_json(args.out_dir / f"reproduce{args.tag}.json", results)  # after each dataset: partial results survive
    meta["total_wall_minutes"] = total.wall_s / 60.0
    meta["total_cpu_minutes"] = total.cpu_s / 60.0
    write_json(args.out_dir / f"reproduce{args.tag}.json", results)
    write_json(args.out_dir / f"reproduce{args.tag}_meta.json", meta)
    if not args.no_plots:
        plot_dice(results, args.out_dir / f"reproduce{args.tag}_dice.png")
    print_table(results)
    print(f"\n{total.wall_s / 60:.1f} min wall, {total.cpu_s / 60:.1f} CPU min; results in {args.out_dir}")
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
