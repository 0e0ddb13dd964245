"""The denoising U-Net: diffusers' UNet2DModel with a fixed number of attention heads per level.

The paper's U-Net (CompVis LDM, lsun_churches) uses 8 heads at every attention level, scale-shift
norm and res-block up/down-sampling. UNet2DModel expresses all of it except the head count, which
it derives from a single head width (``attention_head_dim``: heads = channels / width at each
level); ``set_attention_heads`` fixes the count after construction (the number of heads changes
no parameter shape, only how q, k and v are split). Two settings are needed for the CompVis
layout: levels without attention use the Resnet{Down,Up}sample blocks (the plain Down/UpBlock2D
resample with a conv), and the mid-block attention gets its GroupNorm (UNet2DModel leaves it out
under scale-shift unless ``attn_norm_num_groups`` is given).

A saved unet/ folder says its head count itself: ``num_attention_heads`` in its config.json
(read by ``load_unet``). Where every attention layer has the same width, ``attention_head_dim``
is written as width / heads too, so diffusers' own ``UNet2DModel.from_pretrained`` builds the
same heads; where widths differ (the paper's 192-768, the cpu preset's 128-256 channels), one
head width cannot give one head count and only ``load_unet`` builds it right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusers import UNet2DModel
from diffusers.models.attention_processor import Attention
from diffusers.utils import SAFETENSORS_WEIGHTS_NAME
from safetensors.torch import load_file

HEADS_KEY = "num_attention_heads"  # our key in unet/config.json; diffusers' UNet2DModel has none


@dataclass(frozen=True)
class UNetSpec:
    """What a LEAF U-Net is built from.

    attention_levels: one flag per level (True = self-attention in that level's blocks).
    """

    sample_size: int
    block_out_channels: tuple[int, ...]
    attention_levels: tuple[bool, ...]
    layers_per_block: int = 2
    num_attention_heads: int = 8
    dropout: float = 0.0
    norm_num_groups: int = 32
    latent_channels: int = 4


def build_unet(spec: UNetSpec) -> UNet2DModel:
    """A randomly initialised U-Net taking concat(image latent, noisy mask latent)."""
    if len(spec.attention_levels) != len(spec.block_out_channels):
        raise ValueError("attention_levels needs one flag per entry of block_out_channels")
    down = tuple("AttnDownBlock2D" if a else "ResnetDownsampleBlock2D" for a in spec.attention_levels)
    up = tuple("AttnUpBlock2D" if a else "ResnetUpsampleBlock2D" for a in reversed(spec.attention_levels))
    unet = UNet2DModel(
        sample_size=spec.sample_size,
        in_channels=2 * spec.latent_channels,
        out_channels=spec.latent_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=spec.block_out_channels,
        layers_per_block=spec.layers_per_block,
        downsample_type="resnet",
        upsample_type="resnet",
        resnet_time_scale_shift="scale_shift",
        dropout=spec.dropout,
        norm_num_groups=spec.norm_num_groups,
        attn_norm_num_groups=spec.norm_num_groups,
        attention_head_dim=spec.block_out_channels[0] // spec.num_attention_heads,
        flip_sin_to_cos=True,
        freq_shift=0,
    )
    set_attention_heads(unet, spec.num_attention_heads)
    return unet


def set_attention_heads(unet: UNet2DModel, num_heads: int) -> None:
    """Give every attention layer ``num_heads`` heads of width channels / num_heads, and record it in the config."""
    widths = set()
    for module in unet.modules():
        if isinstance(module, Attention):
            if module.inner_dim % num_heads:
                raise ValueError(f"{module.inner_dim} channels cannot be split into {num_heads} heads")
            module.heads = module.sliceable_head_dim = num_heads
            module.scale = (module.inner_dim // num_heads) ** -0.5
            widths.add(module.inner_dim)
    unet.register_to_config(**{HEADS_KEY: num_heads})
    if len(widths) == 1:  # one head width gives this head count everywhere: diffusers alone builds it
        unet.register_to_config(attention_head_dim=widths.pop() // num_heads)


def load_unet(folder: str | Path, default_heads: int | None = None) -> UNet2DModel:
    """A saved U-Net folder with its head count (``default_heads`` for folders written before the
    count was in their config). Only safetensors weights; raises OSError, ValueError or RuntimeError."""
    folder = Path(folder)
    config = dict(UNet2DModel.load_config(folder))
    heads = config.pop(HEADS_KEY, None) or default_heads
    unet = UNet2DModel.from_config(config)
    unet.load_state_dict(load_file(folder / SAFETENSORS_WEIGHTS_NAME), strict=True)
    if heads:
        set_attention_heads(unet, int(heads))
    return unet


def attention_heads(unet: UNet2DModel) -> set[int]:
    """The distinct head counts used by the U-Net's attention layers."""
    return {m.heads for m in unet.modules() if isinstance(m, Attention)}
