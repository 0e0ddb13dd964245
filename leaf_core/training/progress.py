"""Training progress: a JSON-lines log, a tqdm bar, and (for the app) JSON lines on stdout.

The events (docs/architecture.md): start, step, val, done, error, notice, alignment_off.
Only the main process of a run reports (``enabled``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

ALIGNMENT_OFF = "alignment_off"  # a requested alignment is off (teacher unavailable); "message" says why


class ProgressReporter:
    """Writes each event to RUN_DIR/train_log.jsonl; on stdout too when ``jsonl_stdout``
    (then no bar is drawn, so stdout carries nothing but the JSON lines)."""

    def __init__(self, log_path: Path, total_steps: int, jsonl_stdout: bool = False, enabled: bool = True,
                 initial_step: int = 0) -> None:
        self.log_path = log_path
        self.jsonl_stdout = jsonl_stdout
        self.enabled = enabled
        if enabled:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        self._bar = tqdm(total=total_steps, initial=initial_step, desc="training", file=sys.stderr,
                         disable=not enabled or jsonl_stdout, dynamic_ncols=True)

    def emit(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps({"event": event, **fields})
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if self.jsonl_stdout:
            print(line, flush=True)
        if event == "step":
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{fields.get('loss', 0):.4f}")
        elif event == "val":
            self._bar.set_postfix(val_dice=f"{fields.get('val_dice', 0):.3f}")

    def close(self) -> None:
        self._bar.close()
