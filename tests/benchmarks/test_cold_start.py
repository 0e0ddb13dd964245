"""benchmarks/cold_start.py runs the app's first-model job end to end in a tiny configuration."""

from __future__ import annotations

import json

from leaf_core.testing import write_synthetic_dataset


def test_cold_start_runs_the_app_job_and_the_next_image_order(tmp_path, load_script):
    cold_start = load_script("cold_start")
    # Named like a shared dataset so it gets that dataset's task; the embedded TAESD is the autoencoder.
    write_synthetic_dataset(tmp_path / "data" / "kvasir-seg", size=(40, 40), split_sizes=(12, 2, 3))
    out = tmp_path / "cold_start.json"
    report = cold_start.main(["--data-root", str(tmp_path / "data"), "--datasets", "kvasir-seg", "--ks", "5,20",
                              "--ordered-k", "10", "--pool", "4", "--threads", "1", "--override", "steps=2",
                              "--override", "resolution=64", "--override", "val_every=1", "--override", "warmup_steps=1",
                              "--work", str(tmp_path / "work"), "--out", str(out), "--plot", str(tmp_path / "c.png")])
    assert json.loads(out.read_text()) == report
    runs = {(r["k"], r["selection"]): r for r in report["runs"]}
    assert set(runs) == {(5, "random"), (10, "uncertainty")}  # k=20 > the 12 train images
    for run in runs.values():
        assert run["dataset"] == "kvasir-seg" and run["recipe"] == "app default" and run["n_test"] == 3
        assert run["draw_seed"] == 0
        assert 0.0 <= run["test_iou"] <= run["test_dice"] <= 1.0
        assert run["settings"]["steps"] == 2 and run["settings"]["resolution"] == 64
        assert [step for step, _ in run["val_curve"]] == [1, 2]
        assert run["cpu_min"] > 0 and run["wall_min"] > 0
        assert "cold_start.py" in run["benchmark_command"] and run["machine"]["cores"] >= 1
        assert run["command"][:3] == ["train", "--preset", "cpu"]
    assert runs[(10, "uncertainty")]["pool"] == 4 and runs[(10, "uncertainty")]["scoring_min"] > 0
    assert (tmp_path / "c.png").stat().st_size > 0
    # Another draw of corrections is another run; the same draw again replaces its record.
    for draw in ("1", "0"):
        report = cold_start.main(["--data-root", str(tmp_path / "data"), "--datasets", "kvasir-seg", "--ks", "5",
                                  "--ordered-k", "0", "--seed", draw, "--threads", "1", "--override", "steps=1",
                                  "--override", "resolution=64", "--work", str(tmp_path / "work"), "--out", str(out),
                                  "--plot", str(tmp_path / "c.png")])
    assert sorted((r["k"], r["selection"], r["draw_seed"]) for r in report["runs"]) == [
        (5, "random", 0), (5, "random", 1), (10, "uncertainty", 0)]
    assert next(r for r in report["runs"] if r["draw_seed"] == 0 and r["k"] == 5)["settings"]["steps"] == 1
