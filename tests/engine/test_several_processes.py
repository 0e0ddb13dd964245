"""Several processes train as one: `accelerate launch` on two CPU processes (gloo), and on two
"machines" (two launches on this host, one process each), against one process with the same
global batch.

The one-process reference takes the global batch of 4 as 2 x 2 by gradient accumulation: its
arithmetic is the two processes' own (each half-batch's gradient halved, then summed; halving is
exact in floating point), so the final weights, the learning rate, the loss and the val Dice must
agree to float32 rounding. Tolerance 1e-6 on the weights: a real fault moves them far more
(measured at these settings: training on one process's half only moves them by 1.6e-4; a
learning rate stepped twice per step changes the lr itself). A single batch of 4 is not used as
the reference because its sums run in another order: its weights differ by ~4e-7 and its val
Dice by a pixel (0.1488 against 0.1480), which no fixed tolerance separates from a bug.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from leaf_core.testing import write_synthetic_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Several GPUs or machines"
TIMEOUT_S = 300


def readme_command() -> tuple[dict[str, str], list[str]]:
    """(environment, words) of the CI command in README's scaling section, exactly as written there."""
    section = (REPO_ROOT / "README.md").read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = section.rsplit("```bash", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    env = {}
    while "=" in words[0]:
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return env, words


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def substituted(words: list[str], **values: str) -> list[str]:
    """The command with DATA, RUN and the port replaced, and `accelerate launch` run by this Python."""
    out = [values.get(word, word) for word in words]
    if out[:2] == ["accelerate", "launch"]:
        out = [sys.executable, "-m", "accelerate.commands.launch", *out[2:]]
    return out


def train_arguments(words: list[str]) -> list[str]:
    return words[words.index("train") + 1:]


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr[-4000:]}"
    return result


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


def weights(run_dir: Path, part: str) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "model" / part / "diffusion_pytorch_model.safetensors")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The README command, its environment, the data, and the one-process reference run."""
    root = tmp_path_factory.mktemp("several-processes")
    data = write_synthetic_dataset(root / "data")
    readme_env, words = readme_command()
    # HF_HOME: no accelerate config file of this machine's user changes the launch.
    env = {**os.environ, **readme_env, "HF_HOME": str(root / "hf-home")}
    reference = root / "one-process"
    arguments = substituted(train_arguments(words), DATA=str(data), RUN=str(reference))
    run([sys.executable, "-m", "leaf_core.cli.main", "train", *arguments, "--grad-accum", "2"], env)
    return {"root": root, "data": data, "env": env, "words": words, "reference": reference}


def assert_trains_as_the_reference(run_dir: Path, reference: Path) -> None:
    for part in ("unet", "image_encoder"):
        ours, expected = weights(run_dir, part), weights(reference, part)
        assert ours.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(ours[name], expected[name], rtol=0, atol=1e-6, msg=f"{part}.{name}")
    ours, expected = events(run_dir), events(reference)
    assert [e["event"] for e in ours] == [e["event"] for e in expected]  # each event once: one process reports
    steps = [[e for e in log if e["event"] == "step"] for log in (ours, expected)]
    assert [e["lr"] for e in steps[0]] == [e["lr"] for e in steps[1]]
    assert [e["loss"] for e in steps[0]] == pytest.approx([e["loss"] for e in steps[1]], rel=1e-6)
    vals = [[e["val_dice"] for e in log if e["event"] == "val"] for log in (ours, expected)]
    assert vals[0] == pytest.approx(vals[1], abs=1e-9) and len(vals[0]) == 2
    start = ours[0]
    assert (start["processes"], start["global_batch"]) == (2, 4)


def test_two_processes_train_as_one_process_with_the_same_global_batch(setting):
    run_dir = setting["root"] / "two-processes"
    words = substituted(setting["words"], DATA=str(setting["data"]), RUN=str(run_dir))
    words[words.index("--main_process_port") + 1] = free_port()
    result = run(words, setting["env"])
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert printed == events(run_dir)  # printed once, by the first process only
    assert_trains_as_the_reference(run_dir, setting["reference"])


def test_two_machines_train_as_one_process_with_the_same_global_batch(setting):
    """Two launches with --num_machines 2 and one process each; each 'machine' has its own --out,
    and only the first writes (the second's stays absent)."""
    port = free_port()
    runs = [setting["root"] / f"machine-{rank}" for rank in (0, 1)]
    arguments = train_arguments(setting["words"])
    launches = []
    for rank, run_dir in enumerate(runs):
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "2",
                   "--num_processes", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
                   "--main_process_port", port, "-m", "leaf_core.cli.main", "train",
                   *substituted(arguments, DATA=str(setting["data"]), RUN=str(run_dir))]
        launches.append(subprocess.Popen(command, cwd=REPO_ROOT, env=setting["env"], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
    outputs = [launch.communicate(timeout=TIMEOUT_S) for launch in launches]
    assert [launch.returncode for launch in launches] == [0, 0], "\n".join(err[-3000:] for _, err in outputs)
    assert not runs[1].exists() and outputs[1][0].strip() == ""
    assert_trains_as_the_reference(runs[0], setting["reference"])


def test_a_cpu_launch_that_would_silently_run_one_process_is_refused(monkeypatch, capsys, tmp_path):
    """`accelerate launch --cpu --num_processes 2` (or a MULTI_CPU config without mpirun) starts one
    process with this environment (accelerate's simple launcher); it must not pass for two."""
    from leaf_core.cli.main import main

    for name in ("WORLD_SIZE", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    data = write_synthetic_dataset(tmp_path / "data")
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1", "--progress-jsonl"])
    captured = capsys.readouterr()
    assert code == 2 and "--multi_gpu --num_processes N" in captured.err
    assert [json.loads(line)["event"] for line in captured.out.splitlines()] == ["error"]
    assert not (tmp_path / "run").exists()
