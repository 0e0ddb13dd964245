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


