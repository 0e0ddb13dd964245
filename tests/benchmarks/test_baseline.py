"""baseline.py (LEAF against MONAI's BasicUNet): its schedules against torch's and diffusers', its
scoring at each mask's original size, and a tiny run end to end, resumed with a second seed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from leaf_core.metrics import dice_score
from leaf_core.testing import write_synthetic_dataset

pytest.importorskip("monai", reason="the benchmarks extra (pip install -e '.[benchmarks]') is not installed")


def test_cosine_schedule_is_the_leaf_trainers(load_script):
    from diffusers.optimization import get_cosine_schedule_with_warmup

    unet = load_script("supervised_unet")
    steps, warmup = 150, 10
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, steps)
    for step in range(steps):
        assert unet.lr_factor("cosine", step / steps, warmup / steps) == pytest.approx(scheduler.get_last_lr()[0], abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_onecycle_schedule_is_torchs(load_script):
    unet = load_script("supervised_unet")
    steps = 1000
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=steps)
    ours, torchs = [], []
    for step in range(steps):
        ours.append(unet.lr_factor("onecycle", step / steps, 0.0))
        torchs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    # torch counts the phases to step total-1, we to the end of the budget: one step apart at most.
    assert max(abs(a - b) for a, b in zip(ours, torchs)) < 0.01
    assert ours[0] == pytest.approx(1 / 25) and max(ours) == pytest.approx(1.0, abs=1e-4)
    assert int(np.argmax(torchs)) == 299 and int(np.argmax(ours)) in (299, 300)  # the peak at 30%
    assert ours[-1] < 1e-3 and unet.lr_factor("onecycle", 1.0, 0.0) == pytest.approx(1 / 25e4)
    with pytest.raises(ValueError, match="unknown lr schedule"):
        unet.lr_factor("step", 0.5, 0.0)


class LeftHalfForeground(torch.nn.Module):
    """Logits +20 on the left half of the model's input, -20 on the right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full((x.shape[0], 1, *x.shape[2:]), -20.0)
        logits[..., : x.shape[-1] // 2] = 20.0
        return logits


def test_unet_is_scored_at_each_masks_original_size(load_script):
    from leaf_core.evaluation import LabelledImage

    unet = load_script("supervised_unet")
    rng = np.random.default_rng(0)
    images = []
    for i, (height, width) in enumerate([(40, 60), (90, 34), (64, 64)]):
        mask = rng.random((height, width)) < np.linspace(0.9, 0.1, width)[None, :]
        images.append(LabelledImage(f"im{i}", rng.integers(0, 255, (height, width, 3), dtype=np.uint8), mask))
    scores = unet.score(LeftHalfForeground(), images, resolution=64)
    for image, dice in zip(images, scores.dice):
        expected = np.zeros_like(image.mask)
        expected[:, : image.mask.shape[1] // 2] = True
        assert dice == pytest.approx(dice_score(expected, image.mask), abs=1e-12)


def test_unet_trains_on_the_leaf_trainers_batches(tmp_path, load_script, taesd, monkeypatch):
    from leaf_core.io.dataset_folder import DatasetFolder
    from leaf_core.model import ModelSources
    from leaf_core.training import TrainConfig, train
    from leaf_core.training.pairs import TrainingPairs

    unet = load_script("supervised_unet")
    data = write_synthetic_dataset(tmp_path / "data", size=(40, 40), split_sizes=(5, 1, 1))
    seen = []
    original = TrainingPairs.batch

    def recording(self, *args, **kwargs):
        images, masks, keys = original(self, *args, **kwargs)
        seen.append((images.clone(), masks.clone()))
        return images, masks, keys

    monkeypatch.setattr(TrainingPairs, "batch", recording)
    train(TrainConfig(data=data, run_dir=tmp_path / "run", model_dir=tmp_path / "run" / "model", preset="cpu",
                      sources=ModelSources(autoencoder=str(taesd)), resolution=64, steps=3, batch_size=2,
                      val_every=10, checkpoint_every=10, seed=7, device="cpu"))
    monkeypatch.setattr(TrainingPairs, "batch", original)
    assert len(seen) == 3
    pairs = TrainingPairs.load(DatasetFolder(data), "train", 64, show_progress=False)
    flipped = 0
    for step, (images, masks) in enumerate(seen):
        ours = unet.training_batch(pairs, step, 2, 7, True)
        assert torch.equal(ours[0], images) and torch.equal(ours[1], masks)
        flipped += int(not torch.equal(ours[0], unet.training_batch(pairs, step, 2, 7, False)[0]))
    assert flipped > 0  # the seeded flips are on and are the trainer's


def test_baseline_writes_the_result_contract_and_resumes(tmp_path, load_script, taesd):
    baseline = load_script("baseline")
    write_synthetic_dataset(tmp_path / "data" / "tiny", size=(40, 40), split_sizes=(6, 2, 3))
    out = tmp_path / "baseline.json"
    arguments = ["--data-root", str(tmp_path / "data"), "--datasets", "tiny", "--resolution", "64", "--steps", "2",
                 "--val-every", "1", "--tune-lrs", "1e-3,3e-3", "--out", str(out), "--plot", str(tmp_path / "b.png"),
                 "--autoencoder", str(taesd)]
    baseline.main([*arguments, "--seeds", "0"])
    first = json.loads(out.read_text())
    record = first["datasets"]["tiny"]
    grid = record["tuning"]["grid"]
    # lrs with the first schedule, then the other schedule at the best lr; val chose, never test
    assert [(g["lr"], g["lr_schedule"]) for g in grid[:2]] == [(1e-3, "cosine"), (3e-3, "cosine")]
    assert len(grid) == 3 and grid[2]["lr_schedule"] == "onecycle" and grid[2]["lr"] in (1e-3, 3e-3)
    best = max(grid, key=lambda g: g["best_val_dice"])
    assert record["tuning"]["chosen"] == {"lr": best["lr"], "schedule": best["lr_schedule"]}
    assert all("test_dice" not in g for g in grid)
    runs = record["seeds"]["0"]
    assert set(runs) == {"leaf", "unet_equal_steps", "unet_equal_cpu"}
    for entry in runs.values():
        assert 0.0 <= entry["test_dice"] <= 1.0 and 0.0 <= entry["test_iou"] <= entry["test_dice"] + 1e-9
        assert entry["n_test_images"] == 3 and entry["parameters"] > 0 and entry["cpu_minutes"] > 0
    assert runs["leaf"]["steps"] == runs["unet_equal_steps"]["steps"] == 2
    assert runs["unet_equal_steps"]["best_val_dice"] == best["best_val_dice"]
    # equal CPU time: the U-Net trains until it has used the LEAF run's process CPU seconds
    assert runs["unet_equal_cpu"]["budget"] == {"cpu_seconds": runs["leaf"]["cpu_seconds"]}
    assert runs["unet_equal_cpu"]["cpu_seconds"] >= runs["leaf"]["cpu_seconds"]
    assert runs["unet_equal_cpu"]["steps"] > 2
    assert [t["progress"] for t in runs["unet_equal_cpu"]["val_trace"]][-1] >= 1.0
    assert math.isclose(record["summary"]["leaf_minus_unet_equal_steps_dice"],
                        runs["leaf"]["test_dice"] - runs["unet_equal_steps"]["test_dice"])
    assert "baseline.py" in first["runs"][0]["command"] and first["runs"][0]["machine"]["cores"]
    assert (tmp_path / "b.png").stat().st_size > 0

    baseline.main([*arguments, "--seeds", "0,1", "--resume"])
    second = json.loads(out.read_text())
    record = second["datasets"]["tiny"]
    assert record["seeds"]["0"] == runs and record["tuning"] == first["datasets"]["tiny"]["tuning"]  # kept
    assert set(record["seeds"]["1"]) == {"leaf", "unet_equal_steps", "unet_equal_cpu"}
    assert record["summary"]["leaf"]["seeds"] == [0, 1] and len(second["runs"]) == 2
