"""The OpenVINO engine path against torch, the reference (tiny models with O(1)-scale weights).

Tolerances: float32 probabilities within 1e-4 of torch's (measured: ~1e-7), masks equal except at
pixels whose probability is within 1e-4 of the threshold; int8 (the graphs calibrate keeps)
within 0.02 of float32's probabilities on average on unseen images, and at least 90% of the mask
pixels (the tiny model's probabilities lie within a few hundredths of the threshold).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from leaf_core.cli.main import main
from leaf_core.errors import LeafError
from leaf_core.inference import Predictor
from leaf_core.inference.engines import graph_cache, openvino_engine, quantization, selection
from leaf_core.model import LeafModel
from leaf_core.io.masks import read_mask
from leaf_core.testing import build_tiny_model, randomize_weights, write_synthetic_dataset

pytest.importorskip("openvino", reason="the OpenVINO engine is the `fast` extra")
pytest.importorskip("nncf", reason="int8 needs NNCF (the `fast` extra)")

PROBABILITY_TOLERANCE = 1e-4
INT8_PROBABILITY_TOLERANCE = 0.02  # mean absolute difference of an image's int8 probabilities from fp32's


def save_o1_model(folder: Path, seed: int = 0) -> Path:
    """A tiny model with O(1) weights whose masks have both classes: random weights leave the
    decoder's output around -1.4 (all background), so its last bias is shifted to centre it on 0."""
    model = randomize_weights(build_tiny_model(seed), seed)
    with torch.no_grad():
        latents = torch.randn(8, model.latent_channels, 8, 8, generator=torch.Generator().manual_seed(seed))
        decoded = model.mask_autoencoder.decode(latents).sample  # = 2 * (last conv output) - 1
        model.mask_autoencoder.decoder.layers[-1].bias -= decoded.mean() / 2
    return model.save_pretrained(folder)


def images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:70, :90]
    return [np.clip((np.sin(xx / (5 + i)) * 90 + np.cos(yy / 7.0) * 60 + 128)[..., None]
                    + rng.normal(0, 20, (70, 90, 3)), 0, 255).astype(np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_o1_model(tmp_path_factory.mktemp("o1") / "model")


def predictors(model_dir: Path, precision: str = "fp32") -> tuple[Predictor, Predictor]:
    engine = Predictor(LeafModel.from_pretrained(model_dir), "cpu", precision, engine="openvino", model_dir=model_dir)
    reference = Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", engine="torch")
    return engine, reference


def assert_same_masks(engine_probability, reference_probability, threshold: float = 0.5) -> None:
    engine_probability, reference_probability = np.asarray(engine_probability), np.asarray(reference_probability)
    differ = (engine_probability > threshold) != (reference_probability > threshold)
    assert not (differ & (np.abs(reference_probability - threshold) > PROBABILITY_TOLERANCE)).any()


def test_openvino_fp32_equals_torch_single_step_ddim_ensemble_and_batches(model_dir):
    engine, reference = predictors(model_dir)
    assert engine.engine_label == "OpenVINO fp32" and reference.engine_label == "torch fp32"
    for rgb in images(2):
        engine.set_image(rgb)
        reference.set_image(rgb)
        for steps in (1, 3):
            ours, theirs = engine.probabilities([0, 7], steps), reference.probabilities([0, 7], steps)
            assert 0.05 < float((theirs > 0.5).float().mean()) < 0.95  # O(1) weights: both classes in the masks
            assert torch.allclose(ours, theirs, atol=PROBABILITY_TOLERANCE, rtol=0)
            assert_same_masks(ours, theirs)
        full = engine.predict(seed=3)
        assert full.probability.shape == rgb.shape[:2]
        np.testing.assert_allclose(full.probability, reference.predict(seed=3).probability, atol=PROBABILITY_TOLERANCE)
    batch = engine.predict_batch(images(3, seed=5), seed=2)
    for rgb, prediction in zip(images(3, seed=5), batch):  # a batch gives each image its own noise, as one by one
        reference.set_image(rgb)
        single = reference.predict(seed=2)
        np.testing.assert_allclose(prediction.probability, single.probability, atol=PROBABILITY_TOLERANCE)
        assert_same_masks(prediction.probability, single.probability)


def test_a_changed_model_folder_is_exported_again(tmp_path, model_dir):
    folder = save_o1_model(tmp_path / "model", seed=1)
    first = openvino_engine.cache_entry(folder)
    engine, _ = predictors(folder)
    assert first.has(openvino_engine.FP32)
    rgb = images(1)[0]
    engine.set_image(rgb)
    before = engine.probabilities([0])
    retrained = LeafModel.from_pretrained(folder)
    randomize_weights(retrained.unet, seed=9)
    retrained.save_pretrained(folder)
    second = openvino_engine.cache_entry(folder)
    assert second.fingerprint != first.fingerprint
    engine, reference = predictors(folder)
    assert second.has(openvino_engine.FP32) and not first.folder.exists()  # the old content's entry is gone
    assert graph_cache.cache_root() in second.folder.parents and folder not in second.folder.parents
    for predictor in (engine, reference):
        predictor.set_image(rgb)
    after = engine.probabilities([0])
    assert torch.allclose(after, reference.probabilities([0]), atol=PROBABILITY_TOLERANCE, rtol=0)
    assert float((after - before).abs().max()) > 0.05


def test_a_missing_openvino_falls_back_to_torch_with_one_line(model_dir, monkeypatch, caplog):
    monkeypatch.delenv(selection.ENGINE_VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    monkeypatch.setattr(selection, "_said", set())
    with caplog.at_level(logging.INFO):
        first = Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", model_dir=model_dir)
        Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", model_dir=model_dir)
    assert first.engine_label == "torch fp32"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("leaf_core.inference")]
    assert lines == ["OpenVINO is not installed: predicting with torch (pip install 'leaf-annotate[fast]' "
                     "for the faster engine)"]
    with pytest.raises(LeafError, match="not installed"):
        Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", engine="openvino", model_dir=model_dir)


def test_auto_uses_openvino_only_where_it_was_measured_faster(model_dir, monkeypatch, caplog):
    monkeypatch.delenv(selection.ENGINE_VARIABLE, raising=False)
    monkeypatch.setattr(selection, "_said", set())
    Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", engine="openvino", model_dir=model_dir)
    entry = openvino_engine.cache_entry(model_dir)
    entry.update_meta(speed={"fp32": {"torch_s": 0.5, "openvino_s": 0.1, "threads": 1}})
    assert Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", model_dir=model_dir).engine_label == \
        "OpenVINO fp32"
    entry.update_meta(speed={"fp32": {"torch_s": 0.1, "openvino_s": 0.5, "threads": 1}})
    with caplog.at_level(logging.WARNING):
        slower = Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", model_dir=model_dir)
    assert slower.engine_label == "torch fp32"
    assert [r.getMessage() for r in caplog.records if "not faster" in r.getMessage()]
    assert Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32").engine_label == "torch fp32"  # no folder


def test_leaf_predict_batches_on_openvino_and_writes_torchs_masks(model_dir, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    for i, rgb in enumerate(images(3, seed=4)):
        Image.fromarray(rgb).save(folder / f"case{i}.png")
    outputs = {}
    for engine in ("openvino", "torch"):
        outputs[engine] = tmp_path / engine
        assert main(["predict", "--model", str(model_dir), str(folder), "--out", str(outputs[engine]),
                     "--engine", engine, "--precision", "fp32", "--batch-size", "2", "--seed", "1"]) == 0
        assert f"predicting with {'OpenVINO' if engine == 'openvino' else 'torch'} fp32" in capsys.readouterr().err
    reference = Predictor(LeafModel.from_pretrained(model_dir), "cpu", "fp32", engine="torch")
    for i, rgb in enumerate(images(3, seed=4)):
        reference.set_image(rgb)
        probability = reference.predict(seed=1).probability
        for engine in outputs:
            mask = read_mask(outputs[engine] / f"case{i}.png")
            differ = mask != (probability > 0.5)
            assert not (differ & (np.abs(probability - 0.5) > PROBABILITY_TOLERANCE)).any()


def test_the_app_names_the_engine_that_made_a_mask(model_dir, monkeypatch):
    from leaf_app.model_hub import ModelHub

    monkeypatch.setenv(selection.ENGINE_VARIABLE, "openvino")
    loaded = ModelHub(device="cpu").get(model_dir)
    assert loaded.stamp.with_engine() == f"tiny test model 1 · OpenVINO {loaded.predictor.precision}"
    monkeypatch.setenv(selection.ENGINE_VARIABLE, "torch")
    assert ModelHub(device="cpu").get(model_dir).stamp.with_engine() == "tiny test model 1"  # the reference


def test_int8_keeps_a_graph_only_where_pixels_and_dice_both_stay(tmp_path, model_dir, capsys, monkeypatch):
    # The tiny model's probabilities sit within a few hundredths of the threshold, so its int8
    # graphs keep 95-99.4% of the pixels (measured), under the 99.5% a trained model must keep. A
    # bar of 96% keeps some of its graphs and refuses others, so one run sees both outcomes.
    bar = 0.96
    monkeypatch.setattr(quantization, "MIN_PIXEL_AGREEMENT", bar)
    data = write_synthetic_dataset(tmp_path / "data", n=10, size=(70, 90))
    report_file = tmp_path / "int8.json"
    assert main(["quantize", "--model", str(model_dir), "--data", str(data), "--split", "train",
                 "--json", str(report_file)]) == 0
    report = json.loads(report_file.read_text())
    assert "accepted" in capsys.readouterr().out
    assert [t["graphs"] for t in report["trials"]][0] == ["mask_decoder"] and report["n_images"] == 7
    trials = report["trials"]
    assert report["fp32_dice"] is not None and all(t["dice"] is not None for t in trials)
    dice_kept = [abs(t["dice"] - report["fp32_dice"]) <= quantization.MAX_DICE_CHANGE for t in trials]
    assert [t["passed"] for t in trials] == [d and t["pixel_agreement"] >= bar for t, d in zip(trials, dice_kept)]
    assert any(d and t["pixel_agreement"] < bar for t, d in zip(trials, dice_kept)), trials  # refused on pixels alone
    assert report["int8_graphs"] == [t["graphs"] for t in trials if t["passed"]][-1]
    entry = openvino_engine.cache_entry(model_dir)
    assert entry.meta()["int8"]["graphs"] == report["int8_graphs"] != []
    for graph in report["int8_graphs"]:  # a kept graph is an int8 graph
        assert "FakeQuantize" in openvino_engine.graph_files(entry.variant("int8"))[graph].read_text()
    int8, reference = predictors(model_dir, "int8")
    assert int8.engine_label == "OpenVINO int8"
    agreeing, total, differences = 0, 0, []
    for rgb in images(3, seed=11):
        int8.set_image(rgb)
        reference.set_image(rgb)
        ours, theirs = int8.predict(0), reference.predict(0)
        agreeing += int((ours.mask == theirs.mask).sum())
        total += theirs.mask.size
        differences.append(float(np.abs(ours.probability - theirs.probability).mean()))
    # measured: 0.947 of the pixels, 0.005 mean difference; the tiny model's probabilities spread by
    # only 0.035 around the threshold, so pixels near it flip
    assert agreeing / total >= 0.9 and max(differences) <= INT8_PROBABILITY_TOLERANCE, (agreeing / total, differences)
    entry.update_meta(int8={**entry.meta()["int8"], "graphs": []})  # what a run that kept nothing leaves
    with pytest.raises(LeafError, match="int8 changed the masks"):
        predictors(model_dir, "int8")
