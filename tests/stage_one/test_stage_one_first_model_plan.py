"""The first model of a project: stage one runs first exactly when no pretrained autoencoder exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from stage_one_helpers import TAESD

from leaf_core.cli.main import build_parser
from leaf_core.training import first_model
from leaf_core.training.first_model import STAGE_ONE_MESSAGE, find_pretrained_autoencoder, first_model_plan

TRAIN_OPTIONS = ["--steps", "300", "--lr", "5e-05", "--batch-size", "2", "--seed", "0", "--progress-jsonl"]


@pytest.fixture(autouse=True)
def nothing_in_the_hub_cache(monkeypatch):
    monkeypatch.setattr(first_model, "PRESET_AUTOENCODER", "leaf-tests/no-such-autoencoder")


def fake_taesd(folder: Path) -> Path:
    folder.mkdir()
    (folder / "taesd_encoder.safetensors").write_bytes(b"")
    (folder / "taesd_decoder.safetensors").write_bytes(b"")
    return folder


def test_with_taesd_the_plan_is_one_train_command(tmp_path):
    taesd = fake_taesd(tmp_path / "taesd")
    plan = first_model_plan(tmp_path / "dataset", tmp_path / "out", taesd, TRAIN_OPTIONS, python="py")
    assert [p.stage for p in plan] == ["model"]
    command = list(plan[0].command)
    assert command[:5] == ["py", "-m", "leaf_core.cli.main", "train", "--preset"]
    assert command[command.index("--autoencoder") + 1] == str(taesd)
    assert command.count("--progress-jsonl") == 1
    assert plan[0].output_dir == tmp_path / "out" / "model"


def test_without_a_pretrained_autoencoder_stage_one_runs_first(tmp_path):
    for taesd in (None, tmp_path / "missing", tmp_path):  # tmp_path exists but holds no autoencoder
        plan = first_model_plan(tmp_path / "dataset", tmp_path / "out", taesd, TRAIN_OPTIONS, stage_one_steps=120)
        assert [p.stage for p in plan] == ["autoencoder", "model"]
        stage_one, train = (list(p.command) for p in plan)
        assert stage_one[3] == "train-autoencoder" and "--progress-jsonl" in stage_one
        assert stage_one[stage_one.index("--out") + 1] == str(tmp_path / "out" / "autoencoder")
        assert stage_one[stage_one.index("--steps") + 1] == "120"
        assert train[train.index("--autoencoder") + 1] == str(tmp_path / "out" / "autoencoder")
        assert plan[0].message == STAGE_ONE_MESSAGE and "stage one" in plan[0].message
        assert plan[1].output_dir == tmp_path / "out" / "model"


def test_every_planned_command_parses(tmp_path):
    parser = build_parser()
    for taesd in (None, fake_taesd(tmp_path / "taesd")):
        for planned in first_model_plan(tmp_path / "d", tmp_path / "o", taesd, TRAIN_OPTIONS):
            args = parser.parse_args(list(planned.command[3:]))
            assert args.progress_jsonl


def test_the_shared_taesd_folder_counts_as_pretrained():
    if not TAESD.is_dir():
        pytest.skip(f"TAESD weights not found at {TAESD} (../shared beside the repo)")
    assert find_pretrained_autoencoder(TAESD) == str(TAESD)


def test_a_stage_one_folder_counts_as_pretrained(tmp_path):
    (tmp_path / "ae" / "vae").mkdir(parents=True)
    (tmp_path / "ae" / "vae" / "config.json").write_text("{}")
    assert find_pretrained_autoencoder(tmp_path / "ae") == str(tmp_path / "ae")
