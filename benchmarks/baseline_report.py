"""What baseline.py reports from its results: per-dataset summaries, the README table, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

METHODS = {"leaf": "LEAF `cpu` preset", "unet_equal_steps": "U-Net, equal steps",
           "unet_equal_cpu": "U-Net, equal CPU time"}
# The paper's table (Dice / IoU, %) on the nearest of its datasets: GPU scale, 256 px, 100k steps.
PAPER = {
    "kvasir-seg": {"dataset": "CVC-ClinicDB", "U-Net": (85.6, 80.5), "LEAF": (95.2, 90.9)},
    "ph2": {"dataset": "ISIC 2018", "U-Net": (87.6, 77.9), "LEAF": (90.5, 84.1)},
    "drishti-gs": {"dataset": "REFUGE2 cup", "U-Net": (80.1, None), "LEAF": (89.5, 81.5)},
    "covid-qu-ex": {"dataset": "QaTa-COV19", "U-Net": (79.0, 69.5), "LEAF": (80.2, 71.0)},
}


def summarize(record: dict) -> dict:
    """Means over the seeds present, per method, and LEAF against each U-Net budget."""
    summary: dict = {}
    for method in METHODS:
        entries = [(seed, methods[method]) for seed, methods in sorted(record.get("seeds", {}).items())
                   if method in methods]
        if entries:
            summary[method] = {
                "seeds": [int(seed) for seed, _ in entries],
                "test_dice": float(np.mean([e["test_dice"] for _, e in entries])),
                "test_dice_per_seed": [e["test_dice"] for _, e in entries],
                "test_iou": float(np.mean([e["test_iou"] for _, e in entries])),
                "cpu_minutes": float(np.mean([e["cpu_minutes"] for _, e in entries])),
                "steps": float(np.mean([e["steps"] for _, e in entries])),
                "parameters": entries[0][1]["parameters"],
                "trainable_parameters": entries[0][1]["trainable_parameters"],
            }
    for method in ("unet_equal_steps", "unet_equal_cpu"):
        if "leaf" in summary and method in summary:
            summary[f"leaf_minus_{method}_dice"] = summary["leaf"]["test_dice"] - summary[method]["test_dice"]
            summary[f"cpu_ratio_leaf_over_{method}"] = summary["leaf"]["cpu_minutes"] / summary[method]["cpu_minutes"]
    return summary


def markdown_table(data: dict) -> str:
    """The README's table: our three rows per dataset, each beside the paper's row for that model."""
    lines = ["| dataset | model | steps | test Dice (per seed) | test IoU | parameters (trainable) | CPU min "
             "| LEAF's CPU / this | paper Dice / IoU (nearest set) |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset, record in data["datasets"].items():
        paper, summary = PAPER.get(dataset), record.get("summary", {})
        for method, label in METHODS.items():
            entry = summary.get(method)
            if entry is None:
                continue
            ratio = 1.0 if method == "leaf" else summary.get(f"cpu_ratio_leaf_over_{method}")
            per_seed = " / ".join(f"{d:.3f}" for d in entry["test_dice_per_seed"])
            paper_cell = ""
            if paper is not None:
                dice, iou = paper["LEAF" if method == "leaf" else "U-Net"]
                paper_cell = f"{dice} / {iou if iou is not None else '-'} ({paper['dataset']})"
            lines.append(f"| {dataset} | {label} | {entry['steps']:.0f} | **{entry['test_dice']:.3f}** ({per_seed}) "
                         f"| {entry['test_iou']:.3f} | {entry['parameters'] / 1e6:.1f} M "
                         f"({entry['trainable_parameters'] / 1e6:.1f} M) | {entry['cpu_minutes']:.1f} "
                         f"| {f'{ratio:.2f}' if ratio is not None else ''} | {paper_cell} |")
    return "\n".join(lines)


def plot(data: dict, path: Path) -> None:
    """Test Dice against training CPU minutes, one marker per run, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(data["datasets"])
    if not datasets:
        return
    styles = {"leaf": ("o", "#1f77b4"), "unet_equal_steps": ("s", "#ff7f0e"), "unet_equal_cpu": ("^", "#2ca02c")}
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(5.0, 4.0 * len(datasets)), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for method, label in METHODS.items():
            runs = [m[method] for m in data["datasets"][dataset].get("seeds", {}).values() if method in m]
            marker, colour = styles[method]
            ax.scatter([r["cpu_minutes"] for r in runs], [r["test_dice"] for r in runs], marker=marker, label=label,
                       s=45, facecolors="none" if method == "unet_equal_cpu" else colour, edgecolors=colour,
                       zorder=3 if method == "leaf" else 2)
        ax.set_xlim(left=0)
        ax.set_title(dataset)
        ax.set_xlabel("training CPU minutes (1 thread)")
        ax.set_ylabel("test Dice")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("LEAF cpu preset vs MONAI BasicUNet (one marker per training seed)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
