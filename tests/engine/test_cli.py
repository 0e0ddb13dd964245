"""The `leaf` command as other tools call it: names, outputs, exit codes, one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from leaf_core.cli.main import main
from leaf_core.model import LeafModel


def run_leaf(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_finetune_writes_a_new_model_and_never_touches_the_old_one(capsys, tiny_model_dir, synthetic_dataset, tmp_path):
    before = {p: p.read_bytes() for p in tiny_model_dir.rglob("*") if p.is_file()}
    out = tmp_path / "new-model"
    code, stdout, _ = run_leaf(capsys, "finetune", "--model", tiny_model_dir, "--data", synthetic_dataset,
                               "--out", out, "--steps", "2", "--val-every", "1", "--progress-jsonl")
    assert code == 0
    events = [json.loads(line) for line in stdout.splitlines()]  # stdout holds JSON lines only
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("step") == 2
    assert [e["step"] for e in events if e["event"] == "val"] == [0, 1, 2]  # step 0: the starting model
    assert events[-1]["model_dir"] == str(out)
    model = LeafModel.from_pretrained(out)
    assert model.card.parent == tiny_model_dir.name and model.card.steps in (0, 1, 2)  # 0: the start model stayed best
    assert (out / "training" / "train_log.jsonl").exists()
    assert before == {p: p.read_bytes() for p in tiny_model_dir.rglob("*") if p.is_file()}


def test_evaluate_prints_and_writes_the_contract(capsys, tiny_model_dir, synthetic_dataset, tmp_path):
    report_file = tmp_path / "eval.json"
    code, stdout, _ = run_leaf(capsys, "evaluate", "--model", tiny_model_dir, "--data", synthetic_dataset,
                               "--split", "val", "--seeds", "0,1,2", "--json", report_file, "--record")
    assert code == 0 and "Dice" in stdout
    report = json.loads(report_file.read_text())
    assert {"dice", "iou", "n_images", "dice_std_over_seeds", "per_image"} <= report.keys()
    assert report["n_images"] == 2 and len(report["dice_per_seed"]) == 3
    assert report["dice"] == pytest.approx(np.mean(report["dice_per_seed"]))
    assert [row["id"] for row in report["per_image"]] == ["case05", "case06"]
    assert LeafModel.from_pretrained(tiny_model_dir).card.metrics["val_dice"] == pytest.approx(report["dice"])


def test_predict_writes_masks_at_input_size_and_reports_broken_files(capsys, tiny_model_dir, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.fromarray(np.zeros((33, 47, 3), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((20, 10), np.uint8)).save(folder / "b.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    code, stdout, stderr = run_leaf(capsys, "predict", "--model", tiny_model_dir, folder, "--out", out, "--ensemble", "3")
    assert code == 2
    assert [line for line in stderr.splitlines() if "broken.png" in line and "Traceback" not in line]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_uncertainty.png", "b.png", "b_uncertainty.png"]
    assert Image.open(out / "a.png").size == (47, 33) and Image.open(out / "b.png").size == (10, 20)
    assert set(np.unique(np.asarray(Image.open(out / "a.png")))) <= {0, 255}


def test_predict_with_ddim_steps(capsys, tiny_model_dir, tmp_path):
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(tmp_path / "x.png")
    code, _, _ = run_leaf(capsys, "predict", "--model", tiny_model_dir, tmp_path / "x.png", "--out", tmp_path / "o",
                          "--steps", "3")
    assert code == 0 and (tmp_path / "o" / "x.png").exists()


@pytest.mark.parametrize("args, expected", [
    (["evaluate", "--model", "{missing}", "--data", "{data}"], "no such model folder"),
    (["predict", "--model", "{model}", "{missing}", "--out", "{tmp}/o"], "missing"),
    (["train", "--data", "{missing}", "--out", "{tmp}/run", "--steps", "1"], "not a dataset folder"),
    (["finetune", "--model", "{model}", "--data", "{data}", "--out", "{model}"], "choose a new folder"),
    (["train", "--data", "{data}", "--out", "{tmp}/run", "--resolution", "100", "--steps", "1"], "multiple of 32"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, tiny_model_dir, synthetic_dataset, tmp_path, args, expected):
    values = {"missing": tmp_path / "missing", "data": synthetic_dataset, "model": tiny_model_dir, "tmp": tmp_path}
    code, _, stderr = run_leaf(capsys, *[a.format(**values) for a in args])
    assert code == 2
    lines = [line for line in stderr.splitlines() if expected in line]
    assert len(lines) == 1 and (lines[0].startswith("leaf ") or lines[0].startswith("skipped: "))
    assert "Traceback" not in stderr


def test_train_from_the_cpu_preset_with_a_local_autoencoder(capsys, tiny_model_dir, synthetic_dataset, tmp_path):
    run = tmp_path / "run"
    code, _, _ = run_leaf(capsys, "train", "--data", synthetic_dataset, "--out", run, "--preset", "cpu",
                          "--autoencoder", tiny_model_dir / "mask_autoencoder", "--resolution", "64", "--steps", "2",
                          "--val-every", "2", "--prediction-type", "v_prediction", "--beta-schedule", "scaled_linear")
    assert code == 0
    model = LeafModel.from_pretrained(run / "model")
    assert model.card.autoencoder == str(tiny_model_dir / "mask_autoencoder")
    assert model.config.prediction_type == "v_prediction" and model.config.schedule.beta_schedule == "scaled_linear"
    assert model.config.resolution == 64 and model.card.preset == "cpu"


def test_evaluate_can_measure_the_clamp_without_touching_the_model(capsys, tmp_path, synthetic_dataset):
    from leaf_core.model import build_model
    from leaf_core.testing import randomize_weights

    model = build_model("cpu", resolution=64)  # the embedded TAESD decodes real masks
    randomize_weights(model.unet, seed=2)  # O(1)-scale outputs: the clamp acts
    folder = model.save_pretrained(tmp_path / "m")
    before = (folder / "leaf_config.json").read_bytes()
    reports = {}
    for flag in ("--clip-sample", "--no-clip-sample"):
        code, _, _ = run_leaf(capsys, "evaluate", "--model", folder, "--data", synthetic_dataset, "--split", "train",
                              flag, "--json", tmp_path / f"{flag}.json")
        assert code == 0
        reports[flag] = json.loads((tmp_path / f"{flag}.json").read_text())
    assert reports["--clip-sample"]["clip_sample"] is True and reports["--no-clip-sample"]["clip_sample"] is False
    assert [r["dice"] for r in reports["--clip-sample"]["per_image"]] != [r["dice"] for r in reports["--no-clip-sample"]["per_image"]]
    assert (folder / "leaf_config.json").read_bytes() == before
    code, _, stderr = run_leaf(capsys, "evaluate", "--model", folder, "--data", synthetic_dataset, "--clip-sample", "--record")
    assert code == 2 and "--record" in stderr
