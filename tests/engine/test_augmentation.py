"""Training poses: flips, and with quarter turns all eight poses of a square, checked against
numpy's own flips and rotations."""

import argparse
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from leaf_core.cli.training_args import add_training_arguments, training_settings
from leaf_core.testing import build_tiny_model
from leaf_core.training import TrainConfig, train
from leaf_core.training.pairs import UPRIGHT, Pose, TrainingPairs, random_poses

SIZE = 6


def asymmetric_pair() -> TrainingPairs:
    """One image and mask with no symmetry, so that every pose gives a different array."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    mask = rng.random((1, SIZE, SIZE)) < 0.5
    return TrainingPairs(["a"], image, mask)


def test_the_eight_poses_are_a_squares_flips_and_quarter_turns():
    pairs = asymmetric_pair()
    poses = list(itertools.product((False, True), repeat=3))
    images, masks, keys = pairs.batch(np.zeros(8, dtype=np.int64), poses)
    assert keys == [(0, pose, None) for pose in poses]
    mask = pairs.masks[0]
    dihedral = [np.rot90(m, k) for m in (mask, np.fliplr(mask)) for k in range(4)]  # numpy's eight
    posed = [m[0].numpy().astype(bool) for m in masks]
    for expected in dihedral:
        assert sum(np.array_equal(expected, p) for p in posed) == 1  # each exactly once
    for (horizontal, vertical, transpose), image, m in zip(poses, images, posed):
        reference = mask[:, ::-1] if horizontal else mask
        reference = reference[::-1] if vertical else reference
        assert np.array_equal(m, reference.T if transpose else reference)
        red = image[0].numpy()  # the image takes the mask's pose: its first channel, scaled back
        source = pairs.images[0, :, :, 0]
        source = source[:, ::-1] if horizontal else source
        source = source[::-1] if vertical else source
        np.testing.assert_allclose((red + 1) * 127.5, source.T if transpose else source, atol=1e-3)


def test_quarter_turns_draw_the_eight_poses_evenly_and_flips_only_draw_as_before():
    count = 8000
    turned = random_poses(count, torch.Generator().manual_seed(1), augment=True, quarter_turns=True)
    shares = [turned.count(pose) / count for pose in itertools.product((False, True), repeat=3)]
    assert max(abs(share - 1 / 8) for share in shares) < 0.015
    flipped = random_poses(count, torch.Generator().manual_seed(1), augment=True)
    draws = (torch.rand(count, 2, generator=torch.Generator().manual_seed(1)) < 0.5).tolist()
    assert flipped == [(h, v, False) for h, v in draws]  # the stream of earlier runs, unchanged
    generator = torch.Generator().manual_seed(1)
    assert random_poses(5, generator, augment=False, quarter_turns=True) == [UPRIGHT] * 5
    assert torch.equal(torch.rand(3, generator=generator), draws_after_three_columns(5, seed=1))


def draws_after_three_columns(count: int, seed: int) -> torch.Tensor:
    """What the generator gives after ``count`` three-column pose draws."""
    generator = torch.Generator().manual_seed(seed)
    torch.rand(count, 3, generator=generator)
    return torch.rand(3, generator=generator)


def test_the_command_line_flag_turns_quarter_turns_on():
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, TrainConfig(data=Path("d"), run_dir=Path("r"), model_dir=Path("m")))
    assert training_settings(parser.parse_args(["--data", "d"]))["quarter_turns"] is False
    settings = training_settings(parser.parse_args(["--data", "d", "--quarter-turns"]))
    assert settings["quarter_turns"] is True and settings["augment"] is True


@pytest.mark.parametrize("quarter_turns", [False, True])
def test_training_poses_its_samples_as_configured(synthetic_dataset, tmp_path, monkeypatch, quarter_turns):
    seen: list[list[Pose]] = []
    original = TrainingPairs.batch

    def recording(self, indices, poses, crops=None, colours=None):
        seen.append(list(poses))
        assert crops == [None] * len(poses) and colours == [None] * len(poses)  # no jitter unless asked
        return original(self, indices, poses, crops, colours)

    monkeypatch.setattr(TrainingPairs, "batch", recording)
    train(TrainConfig(data=synthetic_dataset, run_dir=tmp_path / "run", model_dir=tmp_path / "run" / "model",
                      steps=6, batch_size=4, warmup_steps=1, val_every=6, checkpoint_every=6, seed=2,
                      quarter_turns=quarter_turns), model=build_tiny_model())
    poses = [pose for batch in seen for pose in batch]
    assert len(poses) == 24 and any(h or v for h, v, _ in poses)
    assert any(t for _, _, t in poses) == quarter_turns
