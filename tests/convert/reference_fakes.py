"""Fake reference weights built from the documented key lists (../shared/docs/reference-format).

Scaled-down fakes keep every name and the structure (levels, blocks, heads) and divide the channel
widths: U-Net widths by 6 (192 -> 32, so 8 heads of width 4), autoencoder widths by 4 (128 -> 32).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from leaf_core.testing import o1_scale_tensor

REPO_ROOT = Path(__file__).resolve().parents[2]
FORMAT_DIR = REPO_ROOT.parent / "shared" / "docs" / "reference-format"
UNET_SCALE = 6
AE_SCALE = 4


def documented_shapes(part: str) -> dict[str, tuple[int, ...]]:
    """{name: shape} of one part (unet, vae, latent_encoder) as the reference code builds it."""
    shapes = {}
    for line in (FORMAT_DIR / f"{part}.keys.txt").read_text().splitlines():
        if line.strip():
            name, shape = line.split(" ", 1)
            shapes[name] = tuple(json.loads(shape))
    return shapes


def documented_config(part: str) -> dict:
    return json.loads((FORMAT_DIR / f"{part}.config.json").read_text())


def scaled(shapes: dict[str, tuple[int, ...]], factor: int) -> dict[str, tuple[int, ...]]:
    """Divide every channel width (a multiple of 16 * factor) by ``factor``; 1, 3, 4, 8 stay."""
    return {k: tuple(d // factor if d % (16 * factor) == 0 else d for d in s) for k, s in shapes.items()}


def scaled_config(part: str, image_size: int = 16) -> dict:
    config = documented_config(part)
    if part == "unet":
        config.update(model_channels=config["model_channels"] // UNET_SCALE, image_size=image_size)
    else:
        config.update(ch=config["ch"] // AE_SCALE)
    return config


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of O(1) scale (leaf_core.testing.o1_scale_tensor), so deep stacks stay finite and outputs spread."""
    generator = torch.Generator().manual_seed(seed)
    return {name: o1_scale_tensor(name, shape, generator) for name, shape in shapes.items()}


def scaled_states(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    return {
        "unet": random_state(scaled(documented_shapes("unet"), UNET_SCALE), seed),
        "vae": random_state(scaled(documented_shapes("vae"), AE_SCALE), seed + 1),
        "latent_encoder": random_state(scaled(documented_shapes("latent_encoder"), AE_SCALE), seed + 2),
    }


def write_reference_folder(folder: Path, seed: int = 0, ema: bool = False, pickled: tuple[str, ...] = ()) -> dict:
    """A scaled-down reference LeafPipeline folder; returns the states written (unet_ema's as 'unet')."""
    states = scaled_states(seed)
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "LeafPipeline"}))
    parts = {"unet": states["unet"], "vae": states["vae"], "latent_encoder": states["latent_encoder"]}
    if ema:
        parts["unet"] = {k: v + 1.0 for k, v in states["unet"].items()}  # not the one to use
        parts["unet_ema"] = states["unet"]
    for part, state in parts.items():
        (folder / part).mkdir()
        config_part = "unet" if part.startswith("unet") else part
        (folder / part / "config.json").write_text(json.dumps(scaled_config(config_part)))
        if part in pickled:
            torch.save(state, folder / part / "diffusion_pytorch_model.bin")
        else:
            save_file(state, str(folder / part / "diffusion_pytorch_model.safetensors"))
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text((FORMAT_DIR / "scheduler.config.json").read_text())
    return states
