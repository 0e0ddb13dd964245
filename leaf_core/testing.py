"""Tiny models and data sets for tests and demos: built from configs, saved and loaded like real ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

import torch
from diffusers import AutoencoderTiny

from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.unet import UNetSpec, build_unet

TINY_RESOLUTION = 64


def build_tiny_model(seed: int = 0, prediction_type: str = "sample") -> LeafModel:
    """A random LEAF model of a few hundred thousand parameters at 64x64 (deterministic per seed)."""
    torch.manual_seed(seed)
    autoencoder = AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    )
    unet = build_unet(UNetSpec(sample_size=TINY_RESOLUTION // 8, block_out_channels=(32, 64),
                               attention_levels=(False, True), layers_per_block=1,
                               num_attention_heads=2, norm_num_groups=8))
    config = LeafConfig(resolution=TINY_RESOLUTION, prediction_type=prediction_type, unet_attention_heads=2)
    card = ModelCard(name="tiny test model", version="1", preset="tiny")
    return LeafModel(autoencoder, ImageEncoder.from_autoencoder(autoencoder), unet, config, card)


def save_tiny_model(model_dir: str | Path, seed: int = 0, prediction_type: str = "sample") -> Path:
    """Save a tiny random model folder and return its path."""
    return build_tiny_model(seed, prediction_type).save_pretrained(model_dir)


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
