"""Fixtures for the engine: tiny models and tiny synthetic datasets in our folder layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leaf_core.testing import save_tiny_model


def write_synthetic_dataset(root: Path, n: int = 8, size: tuple[int, int] = (80, 96), seed: int = 0) -> Path:
    """Images with one bright disc on a dark textured background; the mask is the disc.

    Sizes differ from the model's resolution on purpose, so resizing in and out is exercised.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    height, width = size
    ids = []
    for i in range(n):
        yy, xx = np.mgrid[:height, :width]
        cy, cx, r = rng.integers(20, height - 20), rng.integers(20, width - 20), rng.integers(8, 18)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        image = rng.integers(0, 60, size=(height, width, 3)).astype(np.uint8)
        image[mask] = [220, 120, 90]
        image_id = f"case{i:02d}"
        Image.fromarray(image).save(root / "images" / f"{image_id}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{image_id}.png")
        ids.append(image_id)
    splits = {"train": ids[: n - 3], "val": ids[n - 3 : n - 1], "test": ids[n - 1 :]}
    (root / "splits.json").write_text(json.dumps(splits))
    return root


@pytest.fixture
def synthetic_dataset(tmp_path: Path) -> Path:
    return write_synthetic_dataset(tmp_path / "data")


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    return save_tiny_model(tmp_path / "tiny-model")
