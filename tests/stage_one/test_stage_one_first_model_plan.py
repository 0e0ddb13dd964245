"""The first model of a project: stage one runs first exactly when no pretrained autoencoder exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stage_one_helpers import TAESD

from leaf_core.cli.main import build_parser, main
from leaf_core.model import LeafModel
from leaf_core.project.finetune_job import FinetuneSettings, ProgressParser, build_command
from leaf_core.testing import write_synthetic_dataset
from leaf_core.training import first_model
from leaf_core.training.first_model import STAGE_ONE_AUTOENCODER, find_pretrained_autoencoder


@pytest.fixture(autouse=True)
def nothing_in_the_hub_cache(monkeypatch):
    monkeypatch.setattr(first_model, "PRESET_AUTOENCODER", "leaf-tests/no-such-autoencoder")


def fake_taesd(folder: Path) -> Path:
    folder.mkdir()
    (folder / "taesd_encoder.safetensors").write_bytes(b"")
    (folder / "taesd_decoder.safetensors").write_bytes(b"")
    return folder


def first_command(tmp_path: Path, taesd: Path | None) -> list[str]:
    return build_command(None, tmp_path / "dataset", tmp_path / "out", FinetuneSettings(), taesd, engine=("py", "-m", "leaf_core.cli.main"))


def test_with_taesd_the_first_model_trains_on_it(tmp_path):
    taesd = fake_taesd(tmp_path / "taesd")
    command = first_command(tmp_path, taesd)
    assert command[:5] == ["py", "-m", "leaf_core.cli.main", "train", "--preset"]
    assert command[command.index("--autoencoder") + 1] == str(taesd)
    assert build_parser().parse_args(command[3:]).progress_jsonl


def test_without_a_pretrained_autoencoder_stage_one_runs_first(tmp_path):
    for taesd in (None, tmp_path / "missing", tmp_path):  # tmp_path exists but holds no autoencoder
        command = first_command(tmp_path, taesd)
        assert command[command.index("--autoencoder") + 1] == STAGE_ONE_AUTOENCODER
        assert build_parser().parse_args(command[3:]).autoencoder == STAGE_ONE_AUTOENCODER


def test_the_shared_taesd_folder_counts_as_pretrained():
    if not TAESD.is_dir():
        pytest.skip(f"TAESD weights not found at {TAESD} (../shared beside the repo)")
    assert find_pretrained_autoencoder(TAESD) == str(TAESD)


def test_a_stage_one_folder_counts_as_pretrained(tmp_path):
    (tmp_path / "ae" / "vae").mkdir(parents=True)
    (tmp_path / "ae" / "vae" / "config.json").write_text("{}")
    assert find_pretrained_autoencoder(tmp_path / "ae") == str(tmp_path / "ae")


def test_train_with_stage_one_builds_the_model_on_its_own_autoencoder(tmp_path, capsys):
    data = write_synthetic_dataset(tmp_path / "data")
    run = tmp_path / "run"
    code = main(["train", "--data", str(data), "--out", str(run), "--autoencoder", STAGE_ONE_AUTOENCODER,
                 "--stage-one-steps", "2", "--steps", "1", "--resolution", "64", "--progress-jsonl"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["event"] == "notice" and "stage one" in records[0]["message"]
    assert any(r.get("stage") == "autoencoder" for r in records)
    model = LeafModel.from_pretrained(run / "model")
    assert model.card.autoencoder == str(run / "autoencoder")
    # the app's parser sees stage one's steps but not its Dice or folder: the last done is the model's
    parser = ProgressParser()
    events = parser.feed("\n".join(lines) + "\n")
    dones = [e for e in events if type(e).__name__ == "JobDone"]
    assert len(dones) == 1 and dones[0].model_dir == run / "model"
    assert all(getattr(e, "val_dice", 0.0) is not None for e in events)


def test_a_frozen_app_runs_the_bundled_leaf_program_and_a_checkout_runs_the_module(monkeypatch, tmp_path):
    import sys

    from leaf_core.project.finetune_job import engine_command

    assert engine_command() == [sys.executable, "-m", "leaf_core.cli.main"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "leaf-annotate"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert engine_command() == [str(tmp_path / "leaf")]
    monkeypatch.setattr(sys, "platform", "win32")
    assert engine_command() == [str(tmp_path / "leaf.exe")]
