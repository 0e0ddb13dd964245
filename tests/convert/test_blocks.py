"""Converted blocks compute what the reference's blocks compute.

The functions below are plain transcriptions of the documented CompVis semantics (openaimodel
ResBlock / AttentionBlock with QKVAttentionLegacy / timestep_embedding / UNetModel.forward, and
the kl-f8 ResnetBlock / AttnBlock / Encoder), written from the state dict by name, so they share
nothing with diffusers or with the converter.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from reference_fakes import scaled_config, scaled_states

from leaf_core.convert.ldm_autoencoder import LATENT_SCALE, autoencoder_from_ldm, diffusers_config_from_ldm, image_encoder_from_ldm
from leaf_core.convert.ldm_unet import spec_from_openaimodel_config, unet_from_openaimodel
from leaf_core.inference.sampling import sample_mask_latents
from leaf_core.model import LeafConfig, LeafModel

GROUPS = 32


def part(state, prefix):
    return {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}


# --- openaimodel (eps 1e-5 GroupNorm32) ---------------------------------------------------------

def ldm_resblock(x, emb, p, up=False, down=False):
    """ResBlock(use_scale_shift_norm=True); up/down: nearest x2 / avg-pool /2 between in_rest and in_conv."""
    h = F.silu(F.group_norm(x, GROUPS, p["in_layers.0.weight"], p["in_layers.0.bias"], eps=1e-5))
    if up:
        h, x = F.interpolate(h, scale_factor=2.0, mode="nearest"), F.interpolate(x, scale_factor=2.0, mode="nearest")
    if down:
        h, x = F.avg_pool2d(h, 2, 2), F.avg_pool2d(x, 2, 2)
    h = F.conv2d(h, p["in_layers.2.weight"], p["in_layers.2.bias"], padding=1)
    scale, shift = F.linear(F.silu(emb), p["emb_layers.1.weight"], p["emb_layers.1.bias"])[..., None, None].chunk(2, dim=1)
    h = F.group_norm(h, GROUPS, p["out_layers.0.weight"], p["out_layers.0.bias"], eps=1e-5) * (1 + scale) + shift
    h = F.conv2d(F.silu(h), p["out_layers.3.weight"], p["out_layers.3.bias"], padding=1)
    skip = F.conv2d(x, p["skip_connection.weight"], p["skip_connection.bias"]) if "skip_connection.weight" in p else x
    return skip + h


def ldm_attention(x, p, heads):
    """AttentionBlock with QKVAttentionLegacy: reshape to (B * heads, 3 * width, T), then split."""
    b, c, height, width = x.shape
    flat = x.reshape(b, c, -1)
    qkv = F.conv1d(F.group_norm(flat, GROUPS, p["norm.weight"], p["norm.bias"], eps=1e-5), p["qkv.weight"], p["qkv.bias"])
    ch = c // heads
    q, k, v = qkv.reshape(b * heads, 3 * ch, -1).split(ch, dim=1)
    scale = 1 / math.sqrt(math.sqrt(ch))
    weight = torch.einsum("bct,bcs->bts", q * scale, k * scale).softmax(dim=-1)
    a = torch.einsum("bts,bcs->bct", weight, v).reshape(b, c, -1)
    return (flat + F.conv1d(a, p["proj_out.weight"], p["proj_out.bias"])).reshape(b, c, height, width)


def ldm_timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def ldm_unet(x, t, sd, config):
    """UNetModel.forward, walking input_blocks / middle_block / output_blocks by name."""
    mc, mults, n, heads = config["model_channels"], config["channel_mult"], config["num_res_blocks"], config["num_heads"]
    down_blocks, up_blocks, index = set(), set(), 1
    for level in range(len(mults)):
        index += n
        if level != len(mults) - 1:
            down_blocks.add(index)
            index += 1
    for i, level in enumerate(level for level in reversed(range(len(mults))) for _ in range(n + 1)):
        if level != 0 and i % (n + 1) == n:
            up_blocks.add(i)

    def run(prefix, h, emb, down=False, up=False):
        for member in range(3):
            p = part(sd, f"{prefix}.{member}")
            if not p:
                break
            if "qkv.weight" in p:
                h = ldm_attention(h, p, heads)
            elif "in_layers.0.weight" in p:
                h = ldm_resblock(h, emb, p, up=up and member > 0, down=down)
            else:
                h = F.conv2d(h, p["weight"], p["bias"], padding=1)
        return h

    emb = ldm_timestep_embedding(t, mc)
    emb = F.linear(F.silu(F.linear(emb, sd["time_embed.0.weight"], sd["time_embed.0.bias"])),
                   sd["time_embed.2.weight"], sd["time_embed.2.bias"])
    hs, h, i = [], x, 0
    while part(sd, f"input_blocks.{i}"):
        h = run(f"input_blocks.{i}", h, emb, down=i in down_blocks)
        hs.append(h)
        i += 1
    h = run("middle_block", h, emb)
    i = 0
    while part(sd, f"output_blocks.{i}"):
        h = run(f"output_blocks.{i}", torch.cat([h, hs.pop()], dim=1), emb, up=i in up_blocks)
        i += 1
    h = F.silu(F.group_norm(h, GROUPS, sd["out.0.weight"], sd["out.0.bias"], eps=1e-5))
    return F.conv2d(h, sd["out.2.weight"], sd["out.2.bias"], padding=1)


# --- kl-f8 (eps 1e-6 Normalize) -----------------------------------------------------------------

def ae_resnet(x, p):
    """ResnetBlock without a time embedding (temb_channels=0); dropout is off in eval."""
    h = F.silu(F.group_norm(x, GROUPS, p["norm1.weight"], p["norm1.bias"], eps=1e-6))
    h = F.conv2d(h, p["conv1.weight"], p["conv1.bias"], padding=1)
    h = F.silu(F.group_norm(h, GROUPS, p["norm2.weight"], p["norm2.bias"], eps=1e-6))
    h = F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)
    skip = F.conv2d(x, p["nin_shortcut.weight"], p["nin_shortcut.bias"]) if "nin_shortcut.weight" in p else x
    return skip + h


def ae_attention(x, p):
    """AttnBlock: one head over all channels, 1x1-conv q, k, v, proj_out."""
    h = F.group_norm(x, GROUPS, p["norm.weight"], p["norm.bias"], eps=1e-6)
    q, k, v = (F.conv2d(h, p[f"{n}.weight"], p[f"{n}.bias"]) for n in "qkv")
    b, c, height, width = q.shape
    weight = torch.bmm(q.reshape(b, c, -1).permute(0, 2, 1), k.reshape(b, c, -1)) * c ** -0.5
    h = torch.bmm(v.reshape(b, c, -1), weight.softmax(dim=2).permute(0, 2, 1)).reshape(b, c, height, width)
    return x + F.conv2d(h, p["proj_out.weight"], p["proj_out.bias"])


def ae_encoder_latent(x, sd, levels, n):
    """Encoder -> quant_conv -> mode (the first half of the moments) x 0.18215."""
    h = F.conv2d(x, sd["encoder.conv_in.weight"], sd["encoder.conv_in.bias"], padding=1)
    for level in range(levels):
        for j in range(n):
            h = ae_resnet(h, part(sd, f"encoder.down.{level}.block.{j}"))
        if level != levels - 1:
            h = F.conv2d(F.pad(h, (0, 1, 0, 1)), sd[f"encoder.down.{level}.downsample.conv.weight"],
                         sd[f"encoder.down.{level}.downsample.conv.bias"], stride=2)
    h = ae_resnet(h, part(sd, "encoder.mid.block_1"))
    h = ae_attention(h, part(sd, "encoder.mid.attn_1"))
    h = ae_resnet(h, part(sd, "encoder.mid.block_2"))
    h = F.silu(F.group_norm(h, GROUPS, sd["encoder.norm_out.weight"], sd["encoder.norm_out.bias"], eps=1e-6))
    h = F.conv2d(h, sd["encoder.conv_out.weight"], sd["encoder.conv_out.bias"], padding=1)
    moments = F.conv2d(h, sd["quant_conv.weight"], sd["quant_conv.bias"])
    return moments.chunk(2, dim=1)[0] * LATENT_SCALE


def ae_decode(latents, sd, levels, n):
    """post_quant_conv -> Decoder (up levels in reverse, nearest x2 + conv) of latents / 0.18215."""
    h = F.conv2d(latents / LATENT_SCALE, sd["post_quant_conv.weight"], sd["post_quant_conv.bias"])
    h = F.conv2d(h, sd["decoder.conv_in.weight"], sd["decoder.conv_in.bias"], padding=1)
    h = ae_resnet(h, part(sd, "decoder.mid.block_1"))
    h = ae_attention(h, part(sd, "decoder.mid.attn_1"))
    h = ae_resnet(h, part(sd, "decoder.mid.block_2"))
    for level in reversed(range(levels)):
        for j in range(n + 1):
            h = ae_resnet(h, part(sd, f"decoder.up.{level}.block.{j}"))
        if level != 0:
            h = F.conv2d(F.interpolate(h, scale_factor=2.0, mode="nearest"), sd[f"decoder.up.{level}.upsample.conv.weight"],
                         sd[f"decoder.up.{level}.upsample.conv.bias"], padding=1)
    h = F.silu(F.group_norm(h, GROUPS, sd["decoder.norm_out.weight"], sd["decoder.norm_out.bias"], eps=1e-6))
    return F.conv2d(h, sd["decoder.conv_out.weight"], sd["decoder.conv_out.bias"], padding=1)


# --- tests --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def converted():
    torch.manual_seed(0)
    states = scaled_states(seed=3)
    config = scaled_config("unet")
    unet = unet_from_openaimodel(states["unet"], spec_from_openaimodel_config(config)).eval()
    vae = autoencoder_from_ldm(states["vae"], diffusers_config_from_ldm(scaled_config("vae"))).eval()
    encoder = image_encoder_from_ldm(states["latent_encoder"], diffusers_config_from_ldm(scaled_config("latent_encoder"))).eval()
    return states, config, unet, vae, encoder


def close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


@torch.no_grad()
@pytest.mark.parametrize("prefix, block, mode", [
    ("input_blocks.4.0", "down_blocks.1.resnets.0", None),  # 32 -> 64 channels: skip_connection
    ("input_blocks.3.0", "down_blocks.0.downsamplers.0", "down"),
    ("output_blocks.2.1", "up_blocks.0.upsamplers.0", "up"),  # level without attention
    ("output_blocks.5.2", "up_blocks.1.upsamplers.0", "up"),  # after an attention
    ("middle_block.0", "mid_block.resnets.0", None),
])
def test_resblock_with_scale_shift_and_resampling(converted, prefix, block, mode):
    states, _, unet, _, _ = converted
    p = part(states["unet"], prefix)
    channels = p["in_layers.0.weight"].shape[0]
    x, emb = torch.randn(2, channels, 8, 8), torch.randn(2, p["emb_layers.1.weight"].shape[1])
    expected = ldm_resblock(x, emb, p, up=mode == "up", down=mode == "down")
    close(unet.get_submodule(block)(x, emb), expected)


@torch.no_grad()
@pytest.mark.parametrize("prefix, block", [
    ("input_blocks.1.1", "down_blocks.0.attentions.0"),  # 32 channels, 8 heads of width 4
    ("input_blocks.11.1", "down_blocks.3.attentions.1"),
    ("middle_block.1", "mid_block.attentions.0"),
    ("output_blocks.14.1", "up_blocks.4.attentions.2"),
])
def test_legacy_order_attention(converted, prefix, block):
    states, config, unet, _, _ = converted
    p = part(states["unet"], prefix)
    x = torch.randn(2, p["norm.weight"].shape[0], 4, 4)
    attention = unet.get_submodule(block)
    assert attention.heads == config["num_heads"] == 8
    expected = ldm_attention(x, p, heads=8)
    close(attention(x), expected)
    # splitting qkv in thirds (ignoring the legacy head grouping) computes something else
    naive = copy.deepcopy(attention)
    for layer, weight, bias in zip((naive.to_q, naive.to_k, naive.to_v), p["qkv.weight"][:, :, 0].chunk(3), p["qkv.bias"].chunk(3)):
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    assert not torch.allclose(naive(x), expected, atol=1e-3)


@torch.no_grad()
def test_whole_unet_matches_the_openaimodel_forward(converted):
    states, config, unet, _, _ = converted
    x = torch.randn(2, 8, 16, 16)
    t = torch.tensor([999, 17])
    close(unet(x, t).sample, ldm_unet(x, t, states["unet"], config))


@torch.no_grad()
def test_autoencoder_mid_attention_and_resnet(converted):
    states, _, _, vae, _ = converted
    x = torch.randn(2, 128, 4, 4)
    for side in ("encoder", "decoder"):
        close(vae.get_submodule(f"{side}.mid_block.attentions.0")(x), ae_attention(x, part(states["vae"], f"{side}.mid.attn_1")))
    x = torch.randn(2, 32, 8, 8)
    close(vae.encoder.down_blocks[1].resnets[0](x, None), ae_resnet(x, part(states["vae"], "encoder.down.1.block.0")))


@torch.no_grad()
def test_image_encoder_matches_the_latent_encoder(converted):
    states, _, _, _, encoder = converted
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    close(encoder(images), ae_encoder_latent(images, states["latent_encoder"], levels=4, n=2))


@torch.no_grad()
def test_single_step_prediction_matches_the_reference_pipeline(converted):
    """Image -> latent_encoder -> U-Net at t = 999 on concat(image latent, noise) -> vae decoder -> probability."""
    states, config, unet, vae, encoder = converted
    leaf_config = LeafConfig(resolution=128, prediction_type="sample")
    model = LeafModel(vae, encoder, unet, leaf_config).eval()
    images = torch.rand(1, 3, 128, 128) * 2 - 1
    noise = torch.randn(1, 4, 16, 16)
    ours = model.decode_probability(sample_mask_latents(model, model.image_encoder(images), noise))

    image_latent = ae_encoder_latent(images, states["latent_encoder"], levels=4, n=2)
    mask_latent = ldm_unet(torch.cat([image_latent, noise], dim=1), torch.tensor([999]), states["unet"], config)
    decoded = ae_decode(mask_latent, states["vae"], levels=4, n=2).clamp(-1, 1)
    reference = ((decoded + 1) / 2).mean(dim=1)
    close(ours, reference)
