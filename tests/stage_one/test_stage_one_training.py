"""A tiny stage-one run on real masks: it learns (far above a random autoencoder), saves a folder
that `load_autoencoder` and `leaf train --autoencoder` accept, and reports progress by contract."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from leaf_core.cli.main import main
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.model.autoencoder import load_autoencoder
from leaf_core.model.leaf_model import LeafModel
from leaf_core.training.autoencoder_config import WEIGHTS_DIR, AutoencoderCard, AutoencoderTrainConfig
from leaf_core.training.autoencoder_trainer import mask_reconstruction_dice, new_autoencoder, train_autoencoder
from leaf_core.training.pairs import TrainingPairs

RESOLUTION = 64
STEPS = 40
STAGE_ONE_ARGS = ["--resolution", str(RESOLUTION), "--width", "16", "--steps", str(STEPS), "--val-every", "20",
                  "--lr", "3e-3", "--warmup-steps", "5", "--batch-size", "4"]


def run_cli(argv: list[str]) -> tuple[int, list[str]]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(argv)
    return code, stdout.getvalue().splitlines()


@pytest.fixture(scope="module")
def stage_one(real_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("stage-one") / "ae"
    code, lines = run_cli(["train-autoencoder", "--data", str(real_subset), "--out", str(out), "--progress-jsonl",
                           *STAGE_ONE_ARGS])
    assert code == 0
    return out, [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def val_masks(real_subset: Path):
    return TrainingPairs.load(DatasetFolder(real_subset), "val", RESOLUTION, show_progress=False).masks


def test_stage_one_reconstructs_masks_far_better_than_a_random_autoencoder(stage_one, val_masks, real_subset):
    out, _ = stage_one
    random_config = AutoencoderTrainConfig(data=real_subset, out=out, resolution=RESOLUTION, width=16)
    random_dice = mask_reconstruction_dice(new_autoencoder(random_config), val_masks)
    trained_dice = mask_reconstruction_dice(load_autoencoder(out), val_masks)
    assert trained_dice > 0.6, trained_dice
    assert trained_dice > random_dice + 0.4, (trained_dice, random_dice)


def test_the_folder_is_a_diffusers_autoencoder_with_its_card(stage_one, val_masks, real_subset):
    out, events = stage_one
    autoencoder = load_autoencoder(out)
    assert isinstance(autoencoder, AutoencoderTiny)
    assert load_autoencoder(out / WEIGHTS_DIR).config == autoencoder.config
    assert sorted(p.name for p in out.iterdir()) == ["train_log.jsonl", WEIGHTS_DIR]  # no staging left behind
    assert (out / WEIGHTS_DIR / "diffusion_pytorch_model.safetensors").exists()
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))

    card = AutoencoderCard.load(out)
    done = events[-1]
    assert card.val_mask_dice == pytest.approx(done["best_val_dice"])
    assert card.val_mask_dice == pytest.approx(mask_reconstruction_dice(autoencoder, val_masks))
    assert card.resolution == RESOLUTION and card.downsample == 8 and card.latent_channels == 4
    assert card.steps in (20, 40) and card.train_images == 8
    assert card.training_data == "8 train images"
    assert card.settings["steps"] == STEPS and "data" not in card.settings and "out" not in card.settings
    # Nothing on the card names the data folder, whose path may name a patient.
    card_text = "".join(p.read_text() for p in out.rglob("*.json"))
    assert real_subset.name not in card_text and str(real_subset) not in card_text
    # The scaling factor brings the mask latents near unit spread and is the one the loader sees.
    assert autoencoder.config.scaling_factor == pytest.approx(card.scaling_factor)
    assert card.scaling_factor > 0


def test_progress_follows_the_json_lines_contract(stage_one):
    out, events = stage_one
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert events[0]["total_steps"] == STEPS and events[0]["stage"] == "autoencoder"
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, STEPS + 1))
    assert all({"loss", "lr", "total_steps"} <= e.keys() for e in steps)
    vals = [e for e in events if e["event"] == "val"]
    assert [e["step"] for e in vals] == [20, 40]
    assert events[-1]["best_val_dice"] == max(e["val_dice"] for e in vals)
    assert events[-1]["model_dir"] == str(out)
    logged = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert logged == events


def test_leaf_train_builds_on_it_and_the_card_says_so(stage_one, real_subset, tmp_path):
    out, _ = stage_one
    run = tmp_path / "run"
    code, lines = run_cli(["train", "--data", str(real_subset), "--out", str(run), "--autoencoder", str(out),
                           "--resolution", str(RESOLUTION), "--steps", "1", "--val-every", "1", "--no-ema",
                           "--progress-jsonl"])
    assert code == 0
    assert json.loads(lines[-1])["event"] == "done"
    model = LeafModel.from_pretrained(run / "model")
    assert model.card.autoencoder == str(out)
    assert model.card.notes == [] or not any("untrained" in n for n in model.card.notes)
    reference = load_autoencoder(out).state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.mask_autoencoder.state_dict().items())
    assert model.mask_autoencoder.config.scaling_factor == pytest.approx(load_autoencoder(out).config.scaling_factor)


def test_kl_architecture_trains_and_saves(real_subset, tmp_path):
    config = AutoencoderTrainConfig(data=real_subset, out=tmp_path / "kl", architecture="kl", resolution=32,
                                    width=16, steps=2, val_every=2, batch_size=2)
    result = train_autoencoder(config)
    assert result.best_val_dice is not None
    assert isinstance(load_autoencoder(tmp_path / "kl"), AutoencoderKL)


def test_a_missing_dataset_is_one_error_line(tmp_path):
    code, lines = run_cli(["train-autoencoder", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "ae"),
                           "--progress-jsonl"])
    assert code == 2
    assert [json.loads(line)["event"] for line in lines] == ["error"]
    assert "nowhere" in json.loads(lines[0])["message"]


def test_a_bad_setting_is_one_error_line(tmp_path):
    code, lines = run_cli(["train-autoencoder", "--data", str(tmp_path), "--out", str(tmp_path / "ae"),
                           "--downsample", "6", "--progress-jsonl"])
    assert code == 2
    assert "power of two" in json.loads(lines[0])["message"]
