"""Training pairs held in memory at the model's resolution, and a seeded batch order."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from leaf_core.errors import LeafError
from leaf_core.inference.preprocessing import resize_rgb, uint8_to_signed
from leaf_core.io.dataset_folder import DatasetFolder


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

    def indices_for_step(self, step: int, batch_size: int, seed: int) -> np.ndarray:
        """The sample indices of one optimizer step: epochs of seeded permutations, so any step's
        batch is known from (seed, step) alone and a resumed run sees the same data order."""
        n = len(self)
        start = step * batch_size
        indices = []
        for position in range(start, start + batch_size):
            epoch, offset = divmod(position, n)
            indices.append(np.random.default_rng([seed, epoch]).permutation(n)[offset])
        return np.asarray(indices)

    def batch(self, indices: np.ndarray, generator: torch.Generator | None,
              augment: bool) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, bool, bool]]]:
        """Images (B, 3, R, R) in [-1, 1], masks (B, 1, R, R) in {0, 1}, and each sample's
        (index, horizontal flip, vertical flip), with seeded flips when ``augment``."""
        images = uint8_to_signed(torch.from_numpy(self.images[indices]).permute(0, 3, 1, 2))
        masks = torch.from_numpy(self.masks[indices]).unsqueeze(1).float()
        flips = (torch.rand(len(indices), 2, generator=generator) < 0.5).tolist() if augment else [[False, False]] * len(indices)
        keys = []
        for i, (horizontal, vertical) in enumerate(flips):
            dims = [dim for dim, flip in ((2, horizontal), (1, vertical)) if flip]  # (C, H, W): W=2, H=1
            if dims:
                images[i] = images[i].flip(dims=dims)
                masks[i] = masks[i].flip(dims=dims)
            keys.append((int(indices[i]), bool(horizontal), bool(vertical)))
        return images, masks, keys


class MaskLatentCache:
    """Mask latents by (sample index, flips): the mask autoencoder is frozen, so each variant of a
    mask is encoded once per run instead of once per step."""

    def __init__(self) -> None:
        self._latents: dict[tuple[int, bool, bool], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._latents)

    def latents(self, keys: list[tuple[int, bool, bool]], masks: torch.Tensor, encode) -> torch.Tensor:
        """Latents for ``masks`` (B, 1, R, R); ``encode`` maps the missing masks to latents."""
        missing = [i for i, key in enumerate(keys) if key not in self._latents]
        if missing:
            encoded = encode(masks[missing]).detach().float().cpu()
            for i, latent in zip(missing, encoded):
                self._latents[keys[i]] = latent
        return torch.stack([self._latents[key] for key in keys])
