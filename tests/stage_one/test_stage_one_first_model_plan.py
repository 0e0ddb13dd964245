"""A project's first model: the embedded TAESD by default, another autoencoder or stage one on request."""

from __future__ import annotations

import json
from pathlib import Path

from leaf_core.cli.main import build_parser, main
from leaf_core.model import LeafModel
from leaf_core.project.job_progress import ProgressParser
from leaf_core.project.model_jobs import FinetuneSettings, build_command
from leaf_core.testing import write_synthetic_dataset
from leaf_core.training.stage_one import STAGE_ONE_AUTOENCODER, is_autoencoder_folder


def first_command(tmp_path: Path, autoencoder: str | None) -> list[str]:
    return build_command(None, tmp_path / "dataset", tmp_path / "out", FinetuneSettings(), autoencoder,
                         engine=("py", "-m", "leaf_core.cli.main"))


def test_a_first_model_uses_the_presets_embedded_autoencoder_unless_told_otherwise(tmp_path):
    command = first_command(tmp_path, None)
    assert command[:6] == ["py", "-m", "leaf_core.cli.main", "train", "--preset", "cpu"]
    assert "--autoencoder" not in command
    args = build_parser().parse_args(command[3:])
    assert args.progress_jsonl and args.autoencoder is None
    for choice in (str(tmp_path / "my-ae"), STAGE_ONE_AUTOENCODER):
        command = first_command(tmp_path, choice)
        assert build_parser().parse_args(command[3:]).autoencoder == choice


def test_a_stage_one_folder_counts_as_an_autoencoder_folder(tmp_path):
    assert not is_autoencoder_folder(tmp_path / "ae")
    (tmp_path / "ae" / "vae").mkdir(parents=True)
    (tmp_path / "ae" / "vae" / "config.json").write_text("{}")
    assert is_autoencoder_folder(tmp_path / "ae")


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

    from leaf_core.project.model_jobs import engine_command

    assert engine_command() == [sys.executable, "-m", "leaf_core.cli.main"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "leaf-annotate"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert engine_command() == [str(tmp_path / "leaf")]
    monkeypatch.setattr(sys, "platform", "win32")
    assert engine_command() == [str(tmp_path / "leaf.exe")]
