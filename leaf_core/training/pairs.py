"""Training pairs held in memory at the model's resolution, a seeded batch order, and the poses
(flips, quarter turns) augmentation gives each sample (its crops and colours: training/jitter.py)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from leaf_core.errors import LeafError
from leaf_core.inference.preprocessing import resize_rgb, uint8_to_signed
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.training.jitter import ColourFactors, Crop, crop_to_frame, jitter_colour

Pose = tuple[bool, bool, bool]
"""(horizontal flip, vertical flip, transpose), applied in that order; with the transpose the
eight poses are all of a square's flips and quarter turns."""
UPRIGHT: Pose = (False, False, False)
SampleKey = tuple[int, Pose, Crop | None]
"""What a sample's mask depends on: its index, pose and crop (None: the full frame)."""


class TrainingPairs:
    """Images (N, R, R, 3) uint8 and masks (N, R, R) bool, resized once when loaded (images exactly
    as inference resizes them)."""

    def __init__(self, ids: list[str], images: np.ndarray, masks: np.ndarray) -> None:
        self.ids = ids
        self.images = images
        self.masks = masks

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def load(cls, dataset: DatasetFolder, split: str, resolution: int, show_progress: bool = True) -> "TrainingPairs":
        ids, images, masks = [], [], []
        size = (resolution, resolution)
        pairs = dataset.readable_pairs(split)
        for image_id, rgb, mask in tqdm(pairs, desc=f"loading {split}", total=len(dataset.split(split)),
                                        disable=not show_progress, leave=False):
            images.append(resize_rgb(rgb, resolution))
            masks.append(np.array(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)) >= 128)
            ids.append(image_id)
        if not ids:
            raise LeafError(f"no readable image/mask pairs in the '{split}' split of {dataset.root}")
        return cls(ids, np.stack(images), np.stack(masks))

    def indices_at(self, positions: range, seed: int) -> np.ndarray:
        """The sample indices at global positions of the training stream: epochs of seeded
        permutations, so a position's sample is known from (seed, position) alone (a resumed run,
        or one on another number of processes, sees the same data order)."""
        n = len(self)
        permutations: dict[int, np.ndarray] = {}
        indices = []
        for position in positions:
            epoch, offset = divmod(position, n)
            if epoch not in permutations:
                permutations[epoch] = np.random.default_rng([seed, epoch]).permutation(n)
            indices.append(permutations[epoch][offset])
        return np.asarray(indices, dtype=np.int64)

    def indices_for_step(self, step: int, batch_size: int, seed: int) -> np.ndarray:
        """The sample indices of step ``step`` when every step takes the next ``batch_size`` positions."""
        return self.indices_at(range(step * batch_size, (step + 1) * batch_size), seed)

    def batch(self, indices: np.ndarray, poses: list[Pose], crops: list[Crop | None] | None = None,
              colours: list[ColourFactors | None] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[SampleKey]]:
        """Images (B, 3, R, R) in [-1, 1], masks (B, 1, R, R) in {0, 1}, and each sample's key.

        Each sample is cropped as ``crops`` says (image and mask; None: the full frame), its image
        jittered as ``colours`` says, then posed as ``poses`` says.
        """
        crops = crops or [None] * len(poses)
        colours = colours or [None] * len(poses)
        images = uint8_to_signed(torch.from_numpy(self.images[indices]).permute(0, 3, 1, 2))
        masks = torch.from_numpy(self.masks[indices]).unsqueeze(1).float()
        keys = []
        for i, (pose, crop, colour) in enumerate(zip(poses, crops, colours)):
            if crop is not None:
                images[i] = crop_to_frame(images[i], crop)
                masks[i] = (crop_to_frame(masks[i], crop) >= 0.5).float()
            if colour is not None:
                images[i] = jitter_colour(images[i], colour)
            horizontal, vertical, transpose = pose
            dims = [dim for dim, flip in ((2, horizontal), (1, vertical)) if flip]  # (C, H, W): W=2, H=1
            if dims:
                images[i] = images[i].flip(dims=dims)
                masks[i] = masks[i].flip(dims=dims)
            if transpose:  # clone: the transposed view shares memory with the slot it is written to
                images[i] = images[i].transpose(1, 2).clone()
                masks[i] = masks[i].transpose(1, 2).clone()
            keys.append((int(indices[i]), pose, crop))
        return images, masks, keys


def random_poses(count: int, generator: torch.Generator, augment: bool, quarter_turns: bool = False) -> list[Pose]:
    """The poses of ``count`` samples: with ``augment``, each flip with probability 1/2, and with
    ``quarter_turns`` too the transpose (so each of the eight poses with probability 1/8). The flip
    draws are made either way, so what follows in the generator does not depend on ``augment``."""
    draws = (torch.rand(count, 3 if quarter_turns else 2, generator=generator) < 0.5).tolist()
    if not augment:
        return [UPRIGHT] * count
    return [(bool(d[0]), bool(d[1]), quarter_turns and bool(d[2])) for d in draws]


class MaskLatentCache:
    """Mask latents by sample key (index, pose, crop): the mask autoencoder is frozen, so each
    variant of a mask is encoded once per run instead of once per step (with scale jitter nearly
    every crop is new; a latent is a few KB). Each mask is encoded alone: a latent
    must not depend on which other masks happened to be missing with it (convolutions round
    differently per batch size), or a resumed run, or one on another number of processes, would
    train on latents that differ in the last bits."""

    def __init__(self) -> None:
        self._latents: dict[SampleKey, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._latents)

    def latents(self, keys: list[SampleKey], masks: torch.Tensor, encode) -> torch.Tensor:
        """Latents for ``masks`` (B, 1, R, R); ``encode`` maps the missing masks to latents."""
        for i, key in enumerate(keys):
            if key not in self._latents:
                self._latents[key] = encode(masks[i : i + 1])[0].detach().float().cpu()
        return torch.stack([self._latents[key] for key in keys])
