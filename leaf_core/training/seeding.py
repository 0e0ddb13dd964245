"""Every random draw of training from (seed, position) alone.

A training sample is the sample at a global position of the training stream: its image (the
seeded epoch order), pose, timestep and noise come from (seed, position), never from the batch
it falls in or the process it lands on. So one process with a global batch of 4 and two
processes with 2 each draw exactly the same, and a resumed run continues the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from leaf_core.training.jitter import ColourFactors, Crop, random_colour, random_crop
from leaf_core.training.pairs import Pose, random_poses

DROPOUT_STREAM = 1  # keeps the dropout seeds of step s apart from the sample seeds


def hash_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def sample_timesteps(count: int, num_train_timesteps: int, final_fraction: float,
                     generator: torch.Generator) -> torch.Tensor:
    """Uniform timesteps, of which about ``final_fraction`` are replaced by T-1, the one inference uses."""
    timesteps = torch.randint(0, num_train_timesteps, (count,), generator=generator)
    at_final = torch.rand(count, generator=generator) < final_fraction
    return torch.where(at_final, torch.full_like(timesteps, num_train_timesteps - 1), timesteps)


@dataclass
class SampleDraws:
    """What chance decides for the training samples of one process's micro-batch."""

    poses: list[Pose]
    timesteps: torch.Tensor  # (B,) long
    noise: torch.Tensor  # (B, C, h, w)
    crops: list[Crop | None]  # None: the full frame (no scale jitter)
    colours: list[ColourFactors | None]  # None: the colours as they are (no colour jitter)


@dataclass(frozen=True)
class Jitter:
    """How much scale and colour jitter augmentation adds (0: none); see training/jitter.py."""

    resolution: int = 0  # the stored images' side, which crops are drawn in
    scale: float = 0.0
    colour: float = 0.0


def draw_samples(seed: int, positions: range, num_train_timesteps: int, final_fraction: float,
                 latent_shape: tuple[int, int, int], augment: bool, quarter_turns: bool = False,
                 jitter: Jitter = Jitter()) -> SampleDraws:
    """The pose, timestep, noise, crop and colour of the samples at ``positions``, each from its
    own generator. Crops and colours are drawn last and only when asked for, so a run without
    them draws exactly what it drew before they existed."""
    poses, timesteps, noise, crops, colours = [], [], [], [], []
    for position in positions:
        generator = torch.Generator().manual_seed(hash_seed(seed, position))
        poses.extend(random_poses(1, generator, augment, quarter_turns))
        timesteps.append(sample_timesteps(1, num_train_timesteps, final_fraction, generator))
        noise.append(torch.randn(latent_shape, generator=generator))
        crops.append(random_crop(jitter.resolution, jitter.scale, generator) if augment and jitter.scale > 0 else None)
        colours.append(random_colour(jitter.colour, generator) if augment and jitter.colour > 0 else None)
    return SampleDraws(poses, torch.cat(timesteps), torch.stack(noise), crops, colours)


def seed_dropout(seed: int, step: int, process_index: int) -> None:
    """Seed torch's global generators (dropout) for one optimizer step of one process, so a
    resumed run drops out as the straight one did without storing generator states."""
    torch.manual_seed(hash_seed(seed, DROPOUT_STREAM, step, process_index))
