"""The real images in ../shared/data: they read, their masks fit, masks round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from leaf_core.io import list_images, read_image, read_mask, write_masks

DATA = SHARED / "data"
SETS = ("kvasir-seg", "ph2", "drishti-gs")

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA} (../shared beside the repo)"),
]


@pytest.mark.parametrize("name", SETS)
def test_real_images_and_masks(name: str, tmp_path: Path) -> None:
    root = DATA / name
    test_ids = json.loads((root / "splits.json").read_text())["test"][:3]
    paths = [p for p in list_images(root / "images") if p.stem in test_ids]
    assert len(paths) == len(test_ids)
    items = []
    for path in paths:
        image = read_image(path)
        assert image.rgb.dtype == np.uint8 and image.rgb.shape == (image.meta.height, image.meta.width, 3)
        assert image.meta.source_format == "jpeg" and image.intensity is None
        mask = read_mask(root / "masks" / f"{path.stem}.png", expected_shape=image.rgb.shape[:2])
        assert 0 < mask.mean() < 1
        items.append((path, mask))
    for (path, mask), written in zip(items, write_masks(items, tmp_path), strict=True):
        assert written.name == f"{path.stem}.png"
        np.testing.assert_array_equal(read_mask(written), mask)
