import argparse
import itertools
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import Dinov2Config, Dinov2Model

from leaf_core.cli.training_args import add_training_arguments, training_settings
from leaf_core.model import LeafModel
from leaf_core.model.config import train_images_summary
from leaf_core.testing import build_tiny_model
from leaf_core.training import TrainConfig, train
from leaf_core.training.losses import alignment_loss
from leaf_core.training.progress import ProgressReporter


def tiny_config(data: Path, run: Path, **overrides) -> TrainConfig:
    settings = dict(data=data, run_dir=run, model_dir=run / "model", steps=4, batch_size=2, lr=1e-3,
                    warmup_steps=1, val_every=2, checkpoint_every=2, seed=7)
    settings.update(overrides)
    return TrainConfig(**settings)


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def saved_weights(model_dir: Path, part: str = "unet") -> dict[str, torch.Tensor]:
    return load_file(model_dir / part / "diffusion_pytorch_model.safetensors")


def test_training_logs_validates_and_keeps_the_best_model(synthetic_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_config(synthetic_dataset, run), model=build_tiny_model())
    events = read_log(run)
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert all({"loss", "loss_pred", "loss_align", "lr"} <= e.keys() for e in steps)
    vals = [e["val_dice"] for e in events if e["event"] == "val"]
    assert len(vals) == 2 and result.best_val_dice == max(vals)
    model = LeafModel.from_pretrained(result.model_dir)
    assert model.card.metrics["val_dice"] == pytest.approx(result.best_val_dice)
    assert model.card.steps in (2, 4)
    assert "5 train images" in model.card.training_data
    checkpoint_files = {p.suffix for p in (run / "checkpoints").rglob("*") if p.is_file()}
    assert checkpoint_files <= {".json", ".safetensors"}


def test_validations_before_select_from_step_are_logged_but_never_kept(synthetic_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_config(synthetic_dataset, run, val_every=1, select_from_step=3), model=build_tiny_model())
    vals = {e["step"]: e["val_dice"] for e in read_log(run) if e["event"] == "val"}
    assert sorted(vals) == [1, 2, 3, 4]  # every validation is still reported
    assert result.best_val_dice == max(vals[3], vals[4])
    kept = LeafModel.from_pretrained(result.model_dir).card
    assert kept.steps in (3, 4) and kept.metrics["val_dice"] == pytest.approx(result.best_val_dice)
    # past the last step, the last validation is the one kept (a model always comes out)
    late = train(tiny_config(synthetic_dataset, tmp_path / "late", select_from_step=99), model=build_tiny_model())
    assert LeafModel.from_pretrained(late.model_dir).card.steps == 4
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, tiny_config(synthetic_dataset, run))
    assert training_settings(parser.parse_args(["--data", "d", "--select-from-step", "300"]))["select_from_step"] == 300


def test_a_card_counts_its_train_images_in_words():
    assert [train_images_summary(n) for n in (1, 2)] == ["1 train image", "2 train images"]


def test_the_cards_val_dice_is_what_evaluation_computes_on_the_saved_model(synthetic_dataset, tmp_path):
    """Validation predicts as the app and `leaf evaluate` do (same precision default, noise and weight layout)."""
    from leaf_core.evaluation import evaluate_images, load_labelled_images
    from leaf_core.io.dataset_folder import DatasetFolder

    from leaf_core.model import build_model

    # The cpu preset on its embedded TAESD: masks that are neither empty nor full, so Dice is not 0 or 1 by default.
    result = train(tiny_config(synthetic_dataset, tmp_path / "run", steps=2, val_every=1),
                   model=build_model("cpu", resolution=64))
    images, _ = load_labelled_images(DatasetFolder(synthetic_dataset), "val")
    model = LeafModel.from_pretrained(result.model_dir)
    assert 0.0 < result.best_val_dice < 1.0
    assert evaluate_images(model, images).dice == model.card.metrics["val_dice"] == result.best_val_dice


def test_resume_continues_exactly(synthetic_dataset, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    train(tiny_config(synthetic_dataset, straight, val_every=100), model=build_tiny_model())

    interrupted = tmp_path / "interrupted"
    original_emit = ProgressReporter.emit

    def stop_after_step_2(self, event, **fields):
        original_emit(self, event, **fields)
        if event == "step" and fields["step"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ProgressReporter, "emit", stop_after_step_2)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(synthetic_dataset, interrupted, val_every=100), model=build_tiny_model())
    monkeypatch.setattr(ProgressReporter, "emit", original_emit)
    # Fresh weights for what trains (the frozen autoencoder is rebuilt identically, as a real resume does):
    # the checkpoint must restore them.
    model = build_tiny_model()
    with torch.no_grad():
        for parameter in list(model.unet.parameters()) + list(model.image_encoder.parameters()):
            parameter.add_(torch.randn_like(parameter))
    train(tiny_config(synthetic_dataset, interrupted, val_every=100, resume=True), model=model)

    for part in ("unet", "image_encoder"):  # both EMA averages resume through EMAModel.state_dict()
        expected, resumed = saved_weights(straight / "model", part), saved_weights(interrupted / "model", part)
        assert expected.keys() == resumed.keys()
        for name in expected:
            torch.testing.assert_close(resumed[name], expected[name], rtol=0, atol=1e-6, msg=f"{part}.{name}")
    losses = [[e["loss"] for e in read_log(run) if e["event"] == "step"] for run in (straight, interrupted)]
    # steps 1-3, then 3 again (it was interrupted in it) and 4; float32 rounding of restored optimizer state aside
    assert losses[1] == pytest.approx(losses[0][:3] + losses[0][2:], rel=1e-6)


def test_the_saved_model_is_the_ema_of_both_trained_networks(synthetic_dataset, tmp_path):
    """Two runs with one raw trajectory: without EMA (raw weights after steps 1 and 2) and with it;
    the second's saved U-Net and image encoder are diffusers' EMAModel over that trajectory."""
    from diffusers.training_utils import EMAModel

    from leaf_core.training.ema import EMA_POWER

    raw, averaged = tmp_path / "raw", tmp_path / "ema"
    train(tiny_config(synthetic_dataset, raw, steps=2, val_every=100, checkpoint_every=1, ema=False), model=build_tiny_model())
    train(tiny_config(synthetic_dataset, averaged, steps=2, val_every=100, ema_decay=0.9), model=build_tiny_model())
    after_step_1 = load_file(raw / "checkpoints" / "step-000001" / "trainables.safetensors")
    for part in ("unet", "image_encoder"):
        module = getattr(build_tiny_model(), part)
        ema = EMAModel(module.parameters(), decay=0.9, use_ema_warmup=True, power=EMA_POWER)
        for state in ({k[len(part) + 1:]: v for k, v in after_step_1.items() if k.startswith(part + ".")},
                      saved_weights(raw / "model", part)):
            module.load_state_dict(state)
            ema.step(module.parameters())
        ema.copy_to(module.parameters())
        saved, last_raw = saved_weights(averaged / "model", part), saved_weights(raw / "model", part)
        assert max((saved[k] - last_raw[k]).abs().max() for k in saved) > 1e-4, f"{part}: raw weights were saved"
        for name, tensor in module.state_dict().items():
            torch.testing.assert_close(saved[name], tensor, rtol=1e-6, atol=1e-6, msg=f"{part}.{name}")


def save_tiny_teacher(folder: Path) -> Path:
    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          patch_size=4, image_size=32)
    Dinov2Model(config).save_pretrained(folder)
    return folder


def test_alignment_trains_and_leaves_no_trace_in_the_saved_model(synthetic_dataset, tmp_path):
    teacher = save_tiny_teacher(tmp_path / "teacher")
    aligned = train(tiny_config(synthetic_dataset, tmp_path / "aligned", steps=2, align_weight=0.5,
                                teacher=str(teacher)), model=build_tiny_model())
    plain = train(tiny_config(synthetic_dataset, tmp_path / "plain", steps=2), model=build_tiny_model())
    steps = [e for e in read_log(tmp_path / "aligned") if e["event"] == "step"]
    assert all(-1.0 <= e["loss_align"] < 0.99 and e["loss_align"] != 0.0 for e in steps)
    assert all(e["loss"] == pytest.approx(e["loss_pred"] + 0.5 * e["loss_align"], rel=1e-5) for e in steps)

    aligned_model, plain_model = LeafModel.from_pretrained(aligned.model_dir), LeafModel.from_pretrained(plain.model_dir)
    aligned_names = {n: p.shape for n, p in aligned_model.named_parameters()}
    assert aligned_names == {n: p.shape for n, p in plain_model.named_parameters()}
    assert not any("projector" in n or "teacher" in n for n in aligned_names)
    assert aligned_model.inference_parameter_count() == plain_model.inference_parameter_count()
    assert aligned_model.card.alignment.startswith("on")


def test_unloadable_teacher_trains_without_alignment_and_says_so_in_one_event(synthetic_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    result = train(tiny_config(synthetic_dataset, run, steps=1, align_weight=1.0, progress_jsonl=True,
                               teacher=str(tmp_path / "no-such-teacher")), model=build_tiny_model())
    notices = [e for e in read_log(run) if e["event"] == "alignment_off"]
    assert len(notices) == 1 and "no-such-teacher" in notices[0]["message"]
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # stdout: JSON lines only
    assert [e for e in printed if e["event"] == "alignment_off"] == notices
    card = LeafModel.from_pretrained(result.model_dir).card
    assert card.alignment.startswith("off:") and card.teacher == "none"


def test_alignment_loss_is_one_mean_over_all_tokens():
    same = torch.randn(2, 5, 8)
    assert alignment_loss(same, same).item() == pytest.approx(-1.0, abs=1e-6)
    opposite = torch.cat([same[:1], -same[1:]])
    assert alignment_loss(same, opposite).item() == pytest.approx(0.0, abs=1e-6)  # (-1 + 1) / 2, not / 4
    with pytest.raises(ValueError, match="token shapes"):
        alignment_loss(same, same[:, :3])


def test_final_timestep_fraction_puts_that_share_of_samples_at_the_inference_step():
    from leaf_core.training.seeding import sample_timesteps

    generator = torch.Generator().manual_seed(0)
    uniform = sample_timesteps(20000, 1000, 0.0, generator)
    half = sample_timesteps(20000, 1000, 0.5, generator)
    assert int(uniform.min()) == 0 and int(uniform.max()) == 999
    assert float((uniform == 999).float().mean()) < 0.005
    assert 0.48 < float((half == 999).float().mean()) < 0.52
    rest = half[half != 999]
    assert abs(float(rest.float().mean()) - 499.5) < 15  # the others stay uniform
    assert bool((sample_timesteps(64, 1000, 1.0, generator) == 999).all())


def test_final_timestep_fraction_defaults_to_the_presets_and_an_explicit_value_wins(tmp_path):
    from leaf_core.model.presets import PRESETS
    from leaf_core.training.trainer import resolve_defaults

    model = build_tiny_model()
    model.card.preset = "cpu"
    config = TrainConfig(data=tmp_path, run_dir=tmp_path, model_dir=tmp_path / "model")
    assert resolve_defaults(config, model).final_timestep_fraction == PRESETS["cpu"].final_timestep_fraction
    model.card.preset = "paper"
    assert resolve_defaults(config, model).final_timestep_fraction == 0.0  # the paper trains on uniform t
    explicit = TrainConfig(data=tmp_path, run_dir=tmp_path, model_dir=tmp_path / "model", final_timestep_fraction=0.25)
    assert resolve_defaults(explicit, model).final_timestep_fraction == 0.25


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_lr_schedule_after_warmup_is_constant_or_decays_to_zero(synthetic_dataset, tmp_path, schedule):
    run = tmp_path / "run"
    train(tiny_config(synthetic_dataset, run, steps=6, val_every=100, checkpoint_every=100, lr_schedule=schedule),
          model=build_tiny_model())
    lrs = [e["lr"] for e in read_log(run) if e["event"] == "step"]  # the lr each step used
    assert len(lrs) == 6 and lrs[0] == 0.0 and lrs[1] == pytest.approx(1e-3)  # one warm-up step from 0
    if schedule == "constant":
        assert lrs[1:] == pytest.approx([1e-3] * 5)
    else:
        assert all(a > b for a, b in itertools.pairwise(lrs[1:])) and lrs[-1] < 2e-4


def test_frozen_image_encoder_layers_stay_as_initialised_and_the_rest_train(synthetic_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(synthetic_dataset, run, steps=2, ema=False, frozen_image_encoder_layers=2), model=build_tiny_model())
    initial = build_tiny_model().image_encoder.state_dict()
    saved = saved_weights(run / "model", "image_encoder")
    frozen = {k for k in saved if k.startswith(("encoder.layers.0.", "encoder.layers.1."))}
    assert frozen and all(torch.equal(saved[k], initial[k]) for k in frozen)
    trained = [k for k in saved if k not in frozen and k.endswith("weight")]
    assert all(not torch.equal(saved[k], initial[k]) for k in trained)  # AdamW moves every other weight
    assert "image encoder: first 2 layers kept as initialised" in LeafModel.from_pretrained(run / "model").card.notes


def test_frozen_layers_count_from_the_image_side_for_both_autoencoders():
    from leaf_core.model.autoencoder import build_autoencoder
    from leaf_core.model.image_encoder import ImageEncoder

    kl = ImageEncoder.from_autoencoder(build_autoencoder("AutoencoderKL", dict(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8, latent_channels=4)))
    kl.freeze_first_layers(2)  # conv_in and the first down block
    frozen = {name for name, p in kl.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in kl.named_parameters() if n.startswith(("encoder.conv_in.", "encoder.down_blocks.0."))}
    from leaf_core.model import build_model

    taesd = build_model("cpu", resolution=64).image_encoder  # the embedded TAESD: the 15 layers `--help` names
    assert len(taesd.layers()) == 15 and isinstance(taesd.layers()[0], torch.nn.Conv2d)
    with pytest.raises(ValueError, match="must be 0..14, got 15"):
        taesd.freeze_first_layers(15)
