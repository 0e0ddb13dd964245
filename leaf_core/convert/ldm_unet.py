"""The CompVis ``openaimodel.UNetModel`` (legacy attention, scale-shift, res-block resampling) as our U-Net.

Why not diffusers' ``convert_ldm_unet_checkpoint``: it targets UNet2DConditionModel, whose
attention is a Transformer2DModel; it does not split a fused legacy ``qkv``, and it files the
res-block down/up-samplers (``input_blocks.3.0``, ``output_blocks.2.1``) as ordinary resnets or
attentions. Its res-block renaming (``update_unet_resnet_ldm_to_diffusers``) and its top-level
names (``DIFFUSERS_TO_LDM_MAPPING``) do fit and are reused here; the block walk below follows
``openaimodel.UNetModel.__init__``.

Block walk, for L levels with n res blocks each (attention where the level has it):
    input_blocks.0.0                conv_in
    input_blocks.k.0 / .1           down_blocks.l.resnets.j / attentions.j      (n per level)
    input_blocks.k.0                down_blocks.l.downsamplers.0                (all but the last level)
    middle_block.0 / .1 / .2        mid_block.resnets.0 / attentions.0 / resnets.1
    output_blocks.k.0 / .1          up_blocks.u.resnets.j / attentions.j        (n + 1 per level)
    output_blocks.k.1 or .2         up_blocks.u.upsamplers.0                    (all but level 0)
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DModel
from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING, update_unet_resnet_ldm_to_diffusers
from torch import nn

from leaf_core.convert.tensor_rules import COPY, LEGACY_QKV, SQUEEZE, ConversionError, TensorRule, load_converted
from leaf_core.model.surgery import widen_input_conv
from leaf_core.model.unet import UNetSpec, build_unet

LDM_UNET_PREFIX = "model.diffusion_model."
# openaimodel normalization() is GroupNorm32(32, channels): 32 groups, eps 1e-5 (diffusers' default)
LDM_NORM_GROUPS = 32


def spec_from_openaimodel_config(config: dict[str, Any]) -> UNetSpec:
    """Our UNetSpec for an openaimodel UNetModel config; refuses what our U-Net cannot compute."""
    required = {
        "use_scale_shift_norm": True,
        "resblock_updown": True,
        "use_new_attention_order": False,
        "num_head_channels": -1,
        "num_classes": None,
        "use_spatial_transformer": False,
        "dims": 2,
    }
    for name, value in required.items():
        if config.get(name, value) != value:
            raise ConversionError(f"unsupported U-Net setting {name}={config.get(name)!r} (need {value!r})")
    heads = int(config["num_heads"])
    if config.get("num_heads_upsample", -1) not in (-1, heads):
        raise ConversionError(f"num_heads_upsample {config['num_heads_upsample']} differs from num_heads {heads}")
    if int(config["in_channels"]) not in (int(config["out_channels"]), 2 * int(config["out_channels"])):
        raise ConversionError(f"a LEAF U-Net takes 2 x {config['out_channels']} input channels "
                              f"(or {config['out_channels']}, widened on import), not {config['in_channels']}")
    mults = tuple(int(m) for m in config["channel_mult"])
    attention_ds = {int(d) for d in config["attention_resolutions"]}
    return UNetSpec(
        sample_size=int(config["image_size"]),
        block_out_channels=tuple(int(config["model_channels"]) * m for m in mults),
        attention_levels=tuple(2**level in attention_ds for level in range(len(mults))),
        layers_per_block=int(config["num_res_blocks"]),
        num_attention_heads=heads,
        dropout=float(config.get("dropout", 0.0)),
        norm_num_groups=LDM_NORM_GROUPS,
        latent_channels=int(config["out_channels"]),
    )


def block_prefixes(spec: UNetSpec) -> list[tuple[str, str, str]]:
    """(openaimodel prefix, diffusers prefix, kind res or attn) for every block.

    The single layers (time_embed, input_blocks.0.0, out) are named by diffusers' own table.
    """
    levels = len(spec.block_out_channels)
    n = spec.layers_per_block
    blocks: list[tuple[str, str, str]] = []
    index = 1
    for level in range(levels):
        for j in range(n):
            blocks.append((f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{j}", "res"))
            if spec.attention_levels[level]:
                blocks.append((f"input_blocks.{index}.1", f"down_blocks.{level}.attentions.{j}", "attn"))
            index += 1
        if level != levels - 1:
            blocks.append((f"input_blocks.{index}.0", f"down_blocks.{level}.downsamplers.0", "res"))
            index += 1
    blocks += [
        ("middle_block.0", "mid_block.resnets.0", "res"),
        ("middle_block.1", "mid_block.attentions.0", "attn"),
        ("middle_block.2", "mid_block.resnets.1", "res"),
    ]
    index = 0
    for up, level in enumerate(reversed(range(levels))):
        for j in range(n + 1):
            blocks.append((f"output_blocks.{index}.0", f"up_blocks.{up}.resnets.{j}", "res"))
            part = 1
            if spec.attention_levels[level]:
                blocks.append((f"output_blocks.{index}.1", f"up_blocks.{up}.attentions.{j}", "attn"))
                part = 2
            if level != 0 and j == n:
                blocks.append((f"output_blocks.{index}.{part}", f"up_blocks.{up}.upsamplers.0", "res"))
            index += 1
    return blocks


def unet_rules(source_keys: list[str], spec: UNetSpec) -> list[TensorRule]:
    """One rule per openaimodel tensor; a key of no known block gets no rule (``apply_rules`` reports it)."""
    blocks = {src: (dst, kind) for src, dst, kind in block_prefixes(spec)}
    plain = {ldm: diffusers for diffusers, ldm in DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"].items()}
    rules: list[TensorRule] = []
    for key in source_keys:
        if key in plain:
            rules.append(TensorRule(key, (plain[key],)))
            continue
        block = _block_of(key.rpartition(".")[0], blocks)
        if block is None:
            continue
        src_prefix, (dst_prefix, kind) = block
        if kind == "res":
            renamed: dict[str, str] = {}
            update_unet_resnet_ldm_to_diffusers([key], renamed, {key: key}, {"old": src_prefix, "new": dst_prefix})
            rules.append(TensorRule(key, tuple(renamed)))
        else:
            rules.append(_attention_rule(key, src_prefix, dst_prefix, spec.num_attention_heads))
    return rules


def _block_of(prefix: str, blocks: dict[str, tuple[str, str]]) -> tuple[str, tuple[str, str]] | None:
    # openaimodel keys are <block>.<layer path>.<weight|bias>; the block is the longest known head
    parts = prefix.split(".")
    for end in range(len(parts), 0, -1):
        head = ".".join(parts[:end])
        if head in blocks:
            return head, blocks[head]
    return None


def _attention_rule(key: str, src_prefix: str, dst_prefix: str, heads: int) -> TensorRule:
    layer = key[len(src_prefix) + 1:]
    if layer in ("norm.weight", "norm.bias"):
        return TensorRule(key, (f"{dst_prefix}.group_norm.{layer.split('.')[1]}",))
    if layer in ("qkv.weight", "qkv.bias"):
        suffix = layer.split(".")[1]
        return TensorRule(key, tuple(f"{dst_prefix}.to_{p}.{suffix}" for p in "qkv"), LEGACY_QKV, heads)
    if layer == "proj_out.weight":
        return TensorRule(key, (f"{dst_prefix}.to_out.0.weight",), SQUEEZE)
    if layer == "proj_out.bias":
        return TensorRule(key, (f"{dst_prefix}.to_out.0.bias",), COPY)
    return TensorRule(key, (f"{dst_prefix}.{layer}",))  # unknown: reported as a missing target


def unet_from_openaimodel(state: dict[str, torch.Tensor], spec: UNetSpec) -> UNet2DModel:
    """Our U-Net holding an openaimodel state dict exactly; a 4-channel input conv is widened to 8.

    Built on the meta device, so the weights are not allocated twice; the conversion then fills
    every parameter (``load_converted`` checks it).
    """
    latent = spec.latent_channels
    conv_in = state.get("input_blocks.0.0.weight")
    source_in = int(conv_in.shape[1]) if conv_in is not None else 2 * latent
    if source_in not in (latent, 2 * latent):
        raise ConversionError(f"input_blocks.0.0 takes {source_in} channels; expected {latent} or {2 * latent}")
    with torch.device("meta"):
        unet = build_unet(spec)
        if source_in == latent:  # a plain LDM U-Net: load as it is, then widen as the paper does
            old = unet.conv_in
            unet.conv_in = nn.Conv2d(latent, old.out_channels, old.kernel_size, old.stride, old.padding)
            unet.register_to_config(in_channels=latent)
    load_converted(unet, unet_rules(list(state), spec), state)
    return widen_input_conv(unet) if source_in == latent else unet
