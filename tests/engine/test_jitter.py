"""Scale and colour jitter of training samples: colours against PIL's ImageEnhance, crops against
numpy's own upsampling, and the random stream of runs without jitter unchanged."""

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from leaf_core.cli.training_args import add_training_arguments, training_settings
from leaf_core.inference.preprocessing import uint8_to_signed
from leaf_core.project.model_jobs import FinetuneSettings, build_command
from leaf_core.testing import build_tiny_model
from leaf_core.training import TrainConfig, train
from leaf_core.training.jitter import crop_to_frame, jitter_colour, random_colour, random_crop
from leaf_core.training.pairs import TrainingPairs
from leaf_core.training.seeding import Jitter, draw_samples


def photo(seed: int = 0, size: int = 16) -> np.ndarray:
    """A reddish image, as an endoscopy frame is: the mean grey differs from the mean of R, G and B."""
    rng = np.random.default_rng(seed)
    low, high = np.array([120, 20, 0]), np.array([256, 120, 60])
    return rng.integers(low, high, (size, size, 3)).astype(np.uint8)


@pytest.mark.parametrize("factors", [(1.3, 0.7, 1.2), (0.75, 1.25, 0.8), (1.0, 1.0, 0.0)])
def test_colour_jitter_is_pils_brightness_contrast_and_colour_enhancers_in_turn(factors):
    rgb = photo()
    brightness, contrast, saturation = factors
    expected = Image.fromarray(rgb)
    for enhancer, factor in ((ImageEnhance.Brightness, brightness), (ImageEnhance.Contrast, contrast),
                             (ImageEnhance.Color, saturation)):
        expected = enhancer(expected).enhance(factor)
    image = uint8_to_signed(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0]
    jittered = (jitter_colour(image, factors).permute(1, 2, 0).numpy() + 1.0) * 127.5
    # PIL rounds to uint8 after each enhancer and takes the grey mean as an integer
    np.testing.assert_allclose(jittered, np.asarray(expected, dtype=np.float64), atol=3.0)
    assert float(np.abs(jittered - rgb).mean()) > 5.0  # the factors changed the image


def test_a_half_crop_upsamples_the_mask_as_numpys_kronecker_product_and_the_image_with_it():
    rng = np.random.default_rng(4)
    mask = rng.random((16, 16)) < 0.5
    window = mask[3:11, 5:13]  # crop (top 3, left 5, side 8), twice enlarged
    cropped = crop_to_frame(torch.from_numpy(mask).float()[None], (3, 5, 8))[0] >= 0.5
    assert np.array_equal(cropped.numpy(), np.kron(window, np.ones((2, 2), dtype=bool)))
    rgb = np.repeat(mask[:, :, None].astype(np.uint8) * 255, 3, axis=2)
    pairs = TrainingPairs(["a"], rgb[None], mask[None])
    images, masks, keys = pairs.batch(np.zeros(1, dtype=np.int64), [(False, False, False)], crops=[(3, 5, 8)])
    assert keys == [(0, (False, False, False), (3, 5, 8))]
    assert np.array_equal(masks[0, 0].numpy().astype(bool), cropped.numpy())
    assert np.array_equal(images[0, 0].numpy() >= 0.0, cropped.numpy())  # the image moved with the mask


def test_random_crops_stay_inside_the_frame_and_span_the_allowed_sizes():
    generator = torch.Generator().manual_seed(0)
    crops = [random_crop(128, 0.25, generator) for _ in range(2000)]
    sides = np.array([side for _, _, side in crops])
    assert sides.min() >= 96 and sides.max() >= 127
    assert all(0 <= top <= 128 - side and 0 <= left <= 128 - side for top, left, side in crops)
    assert abs(np.median(sides) - 112) <= 2  # uniform in [96, 128]
    assert len({(top, left) for top, left, side in crops if side < 110}) > 100  # positions vary
    factors = np.array([random_colour(0.2, generator) for _ in range(2000)])
    assert factors.min() >= 0.8 and factors.max() <= 1.2 and abs(factors.mean() - 1.0) < 0.01


def test_jitter_leaves_the_poses_timesteps_and_noise_of_a_run_as_they_were():
    common = dict(seed=5, positions=range(7, 15), num_train_timesteps=1000, final_fraction=0.5,
                  latent_shape=(4, 2, 2), augment=True, quarter_turns=True)
    plain = draw_samples(**common)
    jittered = draw_samples(**common, jitter=Jitter(resolution=64, scale=0.25, colour=0.2))
    assert plain.poses == jittered.poses
    assert torch.equal(plain.timesteps, jittered.timesteps) and torch.equal(plain.noise, jittered.noise)
    assert plain.crops == [None] * 8 and plain.colours == [None] * 8
    assert all(crop is not None and 48 <= crop[2] <= 64 for crop in jittered.crops)
    assert len(set(jittered.colours)) == 8
    again = draw_samples(**common, jitter=Jitter(resolution=64, scale=0.25, colour=0.2))
    assert again.crops == jittered.crops and again.colours == jittered.colours  # from (seed, position) alone
    unaugmented = draw_samples(**{**common, "augment": False}, jitter=Jitter(resolution=64, scale=0.25, colour=0.2))
    assert unaugmented.crops == [None] * 8 and unaugmented.colours == [None] * 8


def test_the_flags_reach_the_config_and_the_apps_job_command():
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, TrainConfig(data=Path("d"), run_dir=Path("r"), model_dir=Path("m")))
    settings = training_settings(parser.parse_args(["--data", "d", "--scale-jitter", "0.25", "--colour-jitter", "0.2"]))
    assert settings["scale_jitter"] == 0.25 and settings["colour_jitter"] == 0.2
    assert training_settings(parser.parse_args(["--data", "d"]))["scale_jitter"] == 0.0
    command = build_command(None, Path("d"), Path("o"), FinetuneSettings(steps=10, scale_jitter=0.25, colour_jitter=0.2))
    assert command[command.index("--scale-jitter") + 1] == "0.25" and command[command.index("--colour-jitter") + 1] == "0.2"
    assert "--scale-jitter" not in build_command(None, Path("d"), Path("o"), FinetuneSettings(steps=10))
    with pytest.raises(ValueError, match="--scale-jitter"):
        TrainConfig(data=Path("d"), run_dir=Path("r"), model_dir=Path("m"), scale_jitter=1.0)
    with pytest.raises(ValueError, match="--colour-jitter"):
        TrainConfig(data=Path("d"), run_dir=Path("r"), model_dir=Path("m"), colour_jitter=-0.1)


def test_training_with_jitter_crops_and_colours_every_sample(synthetic_dataset, tmp_path, monkeypatch):
    seen = []
    original = TrainingPairs.batch

    def recording(self, indices, poses, crops=None, colours=None):
        seen.extend(zip(crops, colours))
        return original(self, indices, poses, crops, colours)

    monkeypatch.setattr(TrainingPairs, "batch", recording)
    model = build_tiny_model()
    train(TrainConfig(data=synthetic_dataset, run_dir=tmp_path / "run", model_dir=tmp_path / "run" / "model",
                      steps=3, batch_size=2, warmup_steps=1, val_every=3, checkpoint_every=3, seed=2,
                      scale_jitter=0.3, colour_jitter=0.2), model=model)
    resolution = model.config.resolution
    assert len(seen) == 6
    assert all(crop is not None and crop[2] >= round(0.7 * resolution) - 1 for crop, _ in seen)
    assert all(colour is not None and all(0.8 <= f <= 1.2 for f in colour) for _, colour in seen)
