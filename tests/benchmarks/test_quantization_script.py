"""benchmarks/quantization.py runs end to end on a tiny model and writes its acceptance record."""

from __future__ import annotations

import json

import pytest

from leaf_core.testing import save_tiny_model, write_synthetic_dataset

pytest.importorskip("openvino", reason="the OpenVINO engine is the `fast` extra")
pytest.importorskip("nncf", reason="int8 needs NNCF (the `fast` extra)")


def test_quantization_scores_int8_against_fp32_on_test(tmp_path, load_script):
    quantization = load_script("quantization")
    data = write_synthetic_dataset(tmp_path / "data", size=(40, 40), split_sizes=(2, 4, 3))
    model_dir = save_tiny_model(tmp_path / "model")
    out = tmp_path / "quantization.json"
    results = quantization.main(["--pair", str(model_dir), str(data), "--out", str(out)])
    assert json.loads(out.read_text()) == results and "quantization.py" in results["command"]
    (entry,) = results["pairs"]
    assert entry["model"] == str(model_dir) and entry["data"] == str(data)
    assert entry["val"]["n_images"] == 4  # calibrated and checked on val, never on test
    assert 0.0 <= entry["test_dice_fp32"] <= 1.0 and 0.0 <= entry["test_dice_int8"] <= 1.0
    assert entry["test_dice_change"] == pytest.approx(entry["test_dice_int8"] - entry["test_dice_fp32"])
    assert entry["accepted"] == (abs(entry["test_dice_change"]) <= 0.005 and bool(entry["int8_graphs"]))
