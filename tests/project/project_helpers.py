"""Deterministic images and masks for the store tests (also used by the crash-test writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (24, 32)  # height, width


def make_png(path: Path, index: int) -> Path:
    """A small RGB PNG that differs per ``index``."""
    rng = np.random.default_rng(1000 + index)
    Image.fromarray(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(path)
    return path


def mask_for(version: int) -> np.ndarray:
    """A mask fixed by ``version``: the crash test checks each row against it."""
    rng = np.random.default_rng(version)
    return rng.random(SIZE) < 0.3


FAKE_JOB_SCRIPT = r'''
import json, os, signal, sys, time

mode, out = sys.argv[1], sys.argv[2]


def emit(**record):
    print(json.dumps(record), flush=True)


def write_model(folder, dice):
    os.makedirs(folder)
    with open(os.path.join(folder, "model_card.json"), "w") as handle:
        json.dump({"metrics": {"val_dice": dice}}, handle)


if mode in ("ok", "ok-train"):
    emit(event="start", total_steps=4, device="cpu")
    print("not a JSON line", flush=True)
    emit(event="alignment_off", message="alignment off: no teacher; training without feature alignment")
    emit(event="notice")  # no message: nothing to show
    emit(event="val", step=0, val_dice=0.5)
    for i in range(1, 5):
        emit(event="step", step=i, total_steps=4, loss=1.0 / i, lr=1e-4)
    sys.stdout.write('{"event": "val", "st')  # a line that arrives in two pieces
    sys.stdout.flush()
    time.sleep(0.05)
    sys.stdout.write('ep": 4, "val_dice": 0.75}\n')
    sys.stdout.flush()
    model = os.path.join(out, "model") if mode == "ok-train" else out
    write_model(model, 0.75)
    with open(os.path.join(out, "train_log.jsonl"), "w") as handle:
        handle.write("{}\n")
    emit(event="done", model_dir=model, best_val_dice=0.75)
elif mode == "crash":
    emit(event="start", total_steps=4, device="cpu")
    sys.stderr.write("Traceback (most recent call last):\n  File \"train.py\", line 1\nValueError: boom\n")
    sys.exit(1)
elif mode == "oom":
    sys.stderr.write("Traceback (most recent call last):\nRuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    sys.exit(1)
elif mode == "error":
    emit(event="error", message="cannot read 'x.png': no pixel data")
    sys.exit(2)
elif mode == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "no-model":
    emit(event="done", model_dir=out, best_val_dice=0.1)
elif mode in ("sleep", "stubborn"):
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    emit(event="start", total_steps=100, device="cpu")
    emit(event="step", step=1, total_steps=100, loss=0.9, lr=1e-4)
    os.makedirs(out)
    time.sleep(60)
'''


def write_fake_job_script(folder: Path) -> Path:
    path = folder / "fake_leaf.py"
    path.write_text(FAKE_JOB_SCRIPT)
    return path


def write_fake_model(folder: Path, val_dice: float | None = None) -> Path:
    """A folder that passes for a model version (only its model card matters here)."""
    import json

    folder.mkdir(parents=True)
    card = {} if val_dice is None else {"metrics": {"val_dice": val_dice}}
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder
