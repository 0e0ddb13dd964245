"""The progress contract of `leaf` jobs (docs/architecture.md), read back by the app.

A job prints one JSON object per line on stdout; ``ProgressParser`` turns a stream of chunks
into events, and ``RemainingTime`` estimates how long the rest will take from the steps so far.
Plain Python, no Qt.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path


@dataclass(frozen=True)
class JobStarted:
    total_steps: int
    device: str


@dataclass(frozen=True)
class StepProgress:
    step: int
    total_steps: int
    loss: float | None  # None for jobs that do not train (importing weights)
    lr: float | None


@dataclass(frozen=True)
class Validation:
    step: int
    val_dice: float


@dataclass(frozen=True)
class JobDone:
    model_dir: Path | None
    best_val_dice: float | None


@dataclass(frozen=True)
class JobError:
    message: str


@dataclass(frozen=True)
class JobNotice:
    """A line the job wants its user to read; the job goes on (stage one first, alignment off)."""

    message: str


ProgressEvent = JobStarted | StepProgress | Validation | JobDone | JobError | JobNotice


def parse_progress_line(line: str) -> ProgressEvent | None:
    """One event of the progress contract (docs/architecture.md), or None for anything else."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    try:
        return _event_from_record(record)
    except (KeyError, TypeError, ValueError):
        return None


def _event_from_record(record: dict) -> ProgressEvent | None:
    event = record.get("event")
    if record.get("stage") == "autoencoder" and event in ("val", "done"):
        return None  # stage one inside a first training: its Dice and folder are not the model's
    if event == "start":
        return JobStarted(total_steps=int(record["total_steps"]), device=str(record.get("device", "")))
    if event == "step":
        loss, lr = record.get("loss"), record.get("lr")
        return StepProgress(
            step=int(record["step"]),
            total_steps=int(record["total_steps"]),
            loss=None if loss is None else float(loss),
            lr=None if lr is None else float(lr),
        )
    if event == "val":
        return Validation(step=int(record["step"]), val_dice=float(record["val_dice"]))
    if event == "done":
        model_dir = record.get("model_dir")
        best = record.get("best_val_dice")
        return JobDone(
            model_dir=Path(model_dir) if model_dir else None,
            best_val_dice=None if best is None else float(best),
        )
    if event == "error":
        return JobError(message=str(record.get("message") or "training failed"))
    if event in ("notice", "alignment_off") and record.get("message"):
        return JobNotice(message=str(record["message"]))
    return None


class ProgressParser:
    """Turns a stream of stdout chunks into events; partial lines wait for their end, garbage is skipped."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str | bytes) -> list[ProgressEvent]:
        if isinstance(chunk, bytes):
            chunk = chunk.decode("utf-8", errors="replace")
        self._pending += chunk
        *lines, self._pending = self._pending.split("\n")
        return [e for e in map(parse_progress_line, lines) if e is not None]

    def finish(self) -> list[ProgressEvent]:
        """Events of a last line that had no newline (the process has ended)."""
        rest, self._pending = self._pending, ""
        event = parse_progress_line(rest)
        return [] if event is None else [event]


@dataclass
class RemainingTime:
    """Seconds left, from the pace of the steps so far (validation pauses included, because they
    recur in proportion to the steps). Feed it every step event; ``clock`` is for tests."""

    clock: Callable[[], float] = time.monotonic
    _first: tuple[int, float] | None = field(default=None, repr=False)
    _last: tuple[int, int, float] | None = field(default=None, repr=False)

    def update(self, step: int, total_steps: int) -> None:
        now = self.clock()
        if self._first is None or step <= self._first[0]:
            self._first = (step, now)
        self._last = (step, total_steps, now)

    def seconds_left(self) -> float | None:
        """None until two steps have been seen."""
        if self._first is None or self._last is None or self._last[0] <= self._first[0]:
            return None
        first_step, first_time = self._first
        step, total, now = self._last
        per_step = (now - first_time) / (step - first_step)
        return max(total - step, 0) * per_step


def describe_seconds(seconds: float | None) -> str:
    """'about 6 min left', 'less than a minute left', or '' when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes / 60:.1f} h left"
