"""What the benchmark scripts share: paths beside the repository, threads, clocks, memory, JSON."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
DATA_ROOT = SHARED / "data"
TAESD = SHARED / "weights" / "taesd"
RESULTS = REPO_ROOT / "benchmarks" / "results"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def set_threads(threads: int) -> None:
    """Pin torch (and OpenMP, for child processes) to ``threads``: on a shared 2-core machine two
    threads under contention are several times slower than one."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


@dataclass
class Timing:
    wall_s: float = 0.0
    cpu_s: float = 0.0


@contextmanager
def timed():
    """Wall-clock and process CPU seconds of a block. With one thread, CPU seconds are what the
    block costs on an idle core; wall seconds also count waiting for a shared core."""
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall_s = time.perf_counter() - wall
        timing.cpu_s = time.process_time() - cpu


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    import torch

    cpu_name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"cpu": cpu_name, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_average_1min_at_start": load, "python": platform.python_version()}


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces a run, relative to the repository root."""
    arguments = sys.argv[1:] if argv is None else argv
    path = Path(script).resolve()
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return " ".join(shlex.quote(a) for a in ["python", str(shown), *arguments])


def write_json(path: Path, data: dict) -> None:
    from leaf_core.io.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def make_synthetic_dataset(root: Path, n_train: int = 8, n_val: int = 2, n_test: int = 2, size: int = 48, seed: int = 0) -> Path:
    """A dataset folder of discs on noise (for the scripts' smoke tests and speed's training step)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    counts = {"train": n_train, "val": n_val, "test": n_test}
    yy, xx = np.mgrid[:size, :size]
    for split, count in counts.items():
        for i in range(count):
            image_id = f"{split}{i:03d}"
            cy, cx, r = rng.uniform(size * 0.3, size * 0.7, 2).tolist() + [rng.uniform(size * 0.15, size * 0.3)]
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            rgb = rng.integers(0, 80, (size, size, 3)).astype(np.uint8)
            rgb[mask] += np.array([150, 60, 40], dtype=np.uint8)
            Image.fromarray(rgb).save(root / "images" / f"{image_id}.png")
            Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{image_id}.png")
            splits[split].append(image_id)
    (root / "splits.json").write_text(json.dumps(splits))
    return root
