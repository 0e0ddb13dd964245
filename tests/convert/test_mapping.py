"""The name/shape mapping: every documented tensor used once, every target filled, shapes equal."""

import pytest
import torch
from reference_fakes import (AE_SCALE, UNET_SCALE, documented_config, documented_shapes, scaled, scaled_config,
                             scaled_states)

from leaf_core.convert.ldm_autoencoder import (autoencoder_from_ldm, autoencoder_rules, diffusers_config_from_ldm,
                                               image_encoder_from_ldm)
from leaf_core.convert.ldm_unet import spec_from_openaimodel_config, unet_from_openaimodel, unet_rules
from leaf_core.convert.reference import leaf_config_from_scheduler
from leaf_core.convert.tensor_rules import ConversionError, apply_rules, split_legacy_qkv
from leaf_core.model.autoencoder import build_autoencoder
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.presets import get_preset
from leaf_core.model.unet import attention_heads, build_unet


def meta(shapes):
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def target_shapes(module):
    return {k: v.shape for k, v in module.state_dict().items()}


def test_reference_unet_config_is_the_paper_preset():
    spec = spec_from_openaimodel_config(documented_config("unet"))
    paper = get_preset("paper").unet_spec()
    assert spec == paper  # 192 x (1,2,2,4,4), attention at ds 1/2/4/8 = latent 32/16/8/4, 8 heads, dropout 0.2


def test_full_size_unet_mapping_covers_every_documented_tensor():
    # the real 295 M-parameter shapes, checked on the meta device (nothing allocated)
    shapes = documented_shapes("unet")
    spec = get_preset("paper").unet_spec()
    with torch.device("meta"):
        unet = build_unet(spec)
    rules = unet_rules(list(shapes), spec)
    converted = apply_rules(rules, meta(shapes), target_shapes(unet))
    assert set(converted) == set(unet.state_dict())
    assert sorted(r.source for r in rules) == sorted(shapes)  # each documented tensor exactly once
    assert sum(len(r.targets) for r in rules) == len(converted) == len(shapes) + 21 * 4  # 21 qkv -> q, k, v
    assert sum(v.numel() for v in converted.values()) == sum(torch.Size(s).numel() for s in shapes.values())


@pytest.mark.parametrize("part", ["vae", "latent_encoder"])
def test_full_size_autoencoder_mapping_covers_every_documented_tensor(part):
    shapes = documented_shapes(part)
    config = diffusers_config_from_ldm(documented_config(part))
    with torch.device("meta"):
        target = build_autoencoder("AutoencoderKL", config) if part == "vae" else ImageEncoder("AutoencoderKL", config)
    rules = autoencoder_rules(shapes, config)
    converted = apply_rules(rules, meta(shapes), target_shapes(target))
    assert set(converted) == set(target.state_dict())
    assert sorted(r.source for r in rules) == sorted(shapes)


def test_scaled_fakes_load_into_built_models_exactly():
    states = scaled_states()
    spec = spec_from_openaimodel_config(scaled_config("unet"))
    unet = unet_from_openaimodel(states["unet"], spec)
    assert attention_heads(unet) == {8} and unet.config.in_channels == 8
    assert unet.down_blocks[0].attentions[0].to_q.weight.shape == (32, 32)
    torch.testing.assert_close(unet.conv_out.weight, states["unet"]["out.2.weight"])
    vae_config = diffusers_config_from_ldm(scaled_config("vae"))
    vae = autoencoder_from_ldm(states["vae"], vae_config)
    torch.testing.assert_close(vae.decoder.up_blocks[3].resnets[0].conv_shortcut.weight,
                               states["vae"]["decoder.up.0.block.0.nin_shortcut.weight"])  # diffusers reverses up
    encoder = image_encoder_from_ldm(states["latent_encoder"], diffusers_config_from_ldm(scaled_config("latent_encoder")))
    torch.testing.assert_close(encoder.quant_conv.weight, states["latent_encoder"]["quant_conv.weight"])
    assert not any(p.is_meta for p in [*unet.parameters(), *vae.parameters(), *encoder.parameters()])


def test_leftover_missing_and_misshapen_tensors_are_refused():
    states = scaled_states()
    spec = spec_from_openaimodel_config(scaled_config("unet"))
    extra = dict(states["unet"], **{"input_blocks.1.0.extra.weight": torch.zeros(3)})
    with pytest.raises(ConversionError, match="extra"):
        unet_from_openaimodel(extra, spec)
    missing = {k: v for k, v in states["unet"].items() if k != "middle_block.1.norm.weight"}
    with pytest.raises(ConversionError, match="mid_block.attentions.0.group_norm.weight"):
        unet_from_openaimodel(missing, spec)
    wrong = dict(states["unet"], **{"out.2.weight": torch.zeros(4, 32, 1, 1)})
    with pytest.raises(ConversionError, match="shape"):
        unet_from_openaimodel(wrong, spec)
    vae_config = diffusers_config_from_ldm(scaled_config("vae"))
    with pytest.raises(ConversionError, match="loss.logvar"):
        autoencoder_from_ldm(dict(states["vae"], **{"loss.logvar": torch.zeros(())}), vae_config)


def test_unsupported_reference_settings_are_named():
    config = dict(documented_config("unet"), use_new_attention_order=True)
    with pytest.raises(ConversionError, match="use_new_attention_order"):
        spec_from_openaimodel_config(config)
    with pytest.raises(ConversionError, match="attn_resolutions"):
        diffusers_config_from_ldm(dict(documented_config("vae"), attn_resolutions=[32]))


def test_legacy_qkv_rows_are_grouped_per_head():
    heads, width, channels = 2, 3, 5
    # row r of the fused weight holds the value r: head h's rows are [q_h; k_h; v_h]
    qkv = torch.arange(3 * heads * width, dtype=torch.float32)[:, None, None].expand(-1, channels, 1)
    q, k, v = split_legacy_qkv(qkv, heads)
    assert q[:, 0].tolist() == [0, 1, 2, 9, 10, 11]
    assert k[:, 0].tolist() == [3, 4, 5, 12, 13, 14]
    assert v[:, 0].tolist() == [6, 7, 8, 15, 16, 17]
    with pytest.raises(ConversionError):
        split_legacy_qkv(torch.zeros(20, 5, 1), heads=3)


def test_scaled_shapes_keep_the_structure():
    shapes = scaled(documented_shapes("unet"), UNET_SCALE)
    assert shapes["input_blocks.0.0.weight"] == (32, 8, 3, 3) and shapes["out.2.weight"] == (4, 32, 3, 3)
    assert scaled(documented_shapes("vae"), AE_SCALE)["quant_conv.weight"] == (8, 8, 1, 1)


def test_scheduler_config_maps_as_written():
    scheduler = documented_config("scheduler")
    config = leaf_config_from_scheduler(scheduler, resolution=256)
    assert (config.prediction_type, config.schedule.beta_schedule, config.schedule.num_train_timesteps) == \
        ("sample", "linear", 1000)
    assert (config.schedule.beta_start, config.schedule.beta_end) == (0.0015, 0.0155)
    with pytest.raises(ConversionError, match="squaredcos_cap_v2"):
        leaf_config_from_scheduler(dict(scheduler, beta_schedule="squaredcos_cap_v2"), 256)
