"""The CompVis kl-f8 ``AutoencoderKL`` (and its encoder half) as diffusers' AutoencoderKL / our ImageEncoder.

The names come from diffusers' own converter, ``convert_ldm_vae_checkpoint``: it is run once on
tagged stand-ins (a tensor of the source's rank holding the source's index), so the rename table
it applies is read back exactly, and ``apply_rules`` can then prove that every source tensor
arrives once and every target is filled. The 1x1-conv attention weights (q, k, v, proj_out) that
diffusers squeezes to Linear weights become SQUEEZE rules.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

from leaf_core.convert.tensor_rules import COPY, SQUEEZE, ConversionError, TensorRule, load_converted
from leaf_core.model.autoencoder import KL_F8_CONFIG, build_autoencoder
from leaf_core.model.image_encoder import ImageEncoder

LDM_VAE_PREFIX = "first_stage_model."
LATENT_SCALE = 0.18215  # the kl-f8 scale of latent diffusion, used by the reference for both latents


def diffusers_config_from_ldm(config: dict[str, Any], scaling_factor: float = LATENT_SCALE) -> dict[str, Any]:
    """diffusers AutoencoderKL config for a CompVis ``ddconfig`` (+ ``embed_dim``); refuses what it cannot hold."""
    if config.get("attn_resolutions"):
        raise ConversionError(f"attn_resolutions={config['attn_resolutions']}: attention inside the levels "
                              "is not supported; kl-f8 has none")
    if not config.get("double_z", True):
        raise ConversionError("double_z=false (a deterministic autoencoder) is not supported")
    z_channels = int(config.get("z_channels", 4))
    if int(config.get("embed_dim", z_channels)) != z_channels:
        raise ConversionError(f"embed_dim {config['embed_dim']} differs from z_channels {z_channels}")
    mults = [int(m) for m in config["ch_mult"]]
    levels = len(mults)
    return {
        **KL_F8_CONFIG,
        "in_channels": int(config.get("in_channels", 3)),
        "out_channels": int(config.get("out_ch", 3)),
        "down_block_types": ("DownEncoderBlock2D",) * levels,
        "up_block_types": ("UpDecoderBlock2D",) * levels,
        "block_out_channels": tuple(int(config["ch"]) * m for m in mults),
        "layers_per_block": int(config["num_res_blocks"]),
        "latent_channels": z_channels,
        "sample_size": int(config.get("resolution", 256)),
        "scaling_factor": scaling_factor,
    }


def autoencoder_rules(source_shapes: dict[str, tuple[int, ...]], config: dict[str, Any]) -> list[TensorRule]:
    """Rules for kl-f8 names (full autoencoder or encoder + quant_conv only), via diffusers' converter."""
    keys = list(source_shapes)
    tagged = {key: torch.full((1,) * len(source_shapes[key]), index, dtype=torch.int64)
              for index, key in enumerate(keys)}
    converted = convert_ldm_vae_checkpoint(tagged, config)
    rules: list[TensorRule] = []
    for target, tag in converted.items():
        source = keys[int(tag.reshape(-1)[0])]
        squeezed = tag.ndim < len(source_shapes[source])
        rules.append(TensorRule(source, (target,), SQUEEZE if squeezed else COPY))
    return rules


def autoencoder_from_ldm(state: dict[str, torch.Tensor], config: dict[str, Any]) -> AutoencoderKL:
    """diffusers' AutoencoderKL holding a kl-f8 state dict exactly (``config`` from ``diffusers_config_from_ldm``)."""
    with torch.device("meta"):
        autoencoder = build_autoencoder("AutoencoderKL", config)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    return load_converted(autoencoder, autoencoder_rules(shapes, config), state)


def image_encoder_from_ldm(state: dict[str, torch.Tensor], config: dict[str, Any]) -> ImageEncoder:
    """Our ImageEncoder (encoder + quant_conv) holding the encoder half of a kl-f8 state dict."""
    with torch.device("meta"):
        encoder = ImageEncoder("AutoencoderKL", config, float(config["scaling_factor"]))
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    return load_converted(encoder, autoencoder_rules(shapes, config), state)
