"""The benchmark scripts run end to end in a tiny configuration and write the agreed JSON shapes."""

from __future__ import annotations

import json

import pytest

from leaf_core.testing import write_synthetic_dataset


def test_reproduce_writes_the_result_contract(tmp_path, load_script, taesd):
    reproduce = load_script("reproduce")
    write_synthetic_dataset(tmp_path / "data" / "tiny", size=(40, 40), split_sizes=(4, 2, 2))
    out = tmp_path / "out"
    reproduce.main(["--data-root", str(tmp_path / "data"), "--datasets", "tiny", "--steps", "2", "--seeds", "2",
                    "--settings", "sample,sample+align,ddim50,ensemble5", "--ddim-steps", "2", "--ddim-seeds", "1",
                    "--ensemble", "2", "--ensemble-repeats", "1", "--out-dir", str(out), "--work-dir", str(tmp_path / "work"),
                    "--autoencoder", str(taesd)])
    results = json.loads((out / "reproduce.json").read_text())
    assert list(results) == ["tiny"]
    assert set(results["tiny"]) == {"sample", "sample+align", "ddim50", "ensemble5"}
    for entry in results["tiny"].values():
        for key in ("dice", "iou", "dice_std_over_seeds", "steps", "cpu_minutes"):
            assert isinstance(entry[key], (int, float)), key
        assert 0.0 <= entry["dice"] <= 1.0 and entry["steps"] == 2
    meta = json.loads((out / "reproduce_meta.json").read_text())
    assert "reproduce.py" in meta["command"]
    evidence = meta["datasets"]["tiny"]
    assert evidence["parameters_sample"] == evidence["parameters_sample+align"]
    assert "random-init DINOv2-small" in meta["teacher"]
    assert (out / "reproduce_dice.png").stat().st_size > 0
    assert (out / "reproduce_predictions_tiny.png").stat().st_size > 0


def test_speed_writes_the_result_contract(tmp_path, load_script, taesd):
    speed = load_script("speed")
    out = tmp_path / "out"
    speed.main(["--presets", "cpu", "--resolution", "64", "--images", "1", "--batch-sizes", "1,2", "--ddim-steps", "2",
                "--ensemble", "2", "--ensemble-steps", "2", "--train-batch", "2", "--out-dir", str(out),
                "--autoencoder", str(taesd)])
    results = json.loads((out / "speed.json").read_text())
    entry = results["cpu"]
    for key in ("single_step_s_per_image", "ddim50_s_per_image", "ensemble5x100_s_per_image", "train_step_s",
                "peak_rss_mb"):
        assert entry[key] > 0, key
    assert entry["resolution"] == 64 and "CPU" in entry["device"]
    gflop = entry["single_step_gflop"]
    assert set(gflop) == {"image_encoder", "unet_step", "mask_decoder"} and min(gflop.values()) > 0
    assert entry["single_step_compute_bound_s"] == pytest.approx(sum(gflop.values()) / entry["peak_gflops"])
    assert "speed.py" in json.loads((out / "speed_meta.json").read_text())["command"]


def test_quality_trains_selects_on_val_and_scores_test(tmp_path, load_script, taesd):
    quality = load_script("quality")
    data = write_synthetic_dataset(tmp_path / "data", size=(40, 40), split_sizes=(4, 2, 3))
    out = tmp_path / "quality.json"
    figures = quality.main(["--data", str(data), "--autoencoder", str(taesd), "--steps", "2", "--resolution", "64",
                            "--val-every", "1", "--seed", "3", "--run-dir", str(tmp_path / "run"), "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == figures
    assert written["steps"] == 2 and written["n_test_images"] == 3 and written["seed"] == 3
    assert 0.0 <= written["test_dice"] <= 1.0 and 0.0 <= written["best_val_dice"] <= 1.0
    assert written["lr_schedule"] == "cosine" and written["final_timestep_fraction"] == 0.5  # the cpu preset's
    assert "quality.py" in written["command"]
    assert (tmp_path / "run" / "model" / "leaf_config.json").exists()
