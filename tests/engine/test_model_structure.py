import torch
from diffusers import UNet2DModel

from leaf_core.model.presets import get_preset
from leaf_core.model.surgery import widen_input_conv
from leaf_core.model.unet import UNetSpec, attention_heads, build_unet


def small_paper_like_spec() -> UNetSpec:
    # the paper's structure (5 levels, attention at the first four, 8 heads) at 1/6 of the width
    return UNetSpec(sample_size=32, block_out_channels=(32, 64, 64, 128, 128),
                    attention_levels=(True, True, True, True, False), layers_per_block=2,
                    num_attention_heads=8, dropout=0.2)


def test_paper_preset_matches_the_reference_configuration():
    preset = get_preset("paper")
    spec = preset.unet_spec()
    assert spec.block_out_channels == (192, 384, 384, 768, 768)  # 192 x (1, 2, 2, 4, 4)
    assert spec.attention_levels == (True, True, True, True, False)  # latent sizes 32/16/8/4
    assert (spec.layers_per_block, spec.num_attention_heads, spec.dropout) == (2, 8, 0.2)
    assert (preset.resolution, spec.sample_size) == (256, 32)


def test_unet_has_8_heads_everywhere_scale_shift_and_resnet_resampling():
    unet = build_unet(small_paper_like_spec())
    assert attention_heads(unet) == {8}
    assert unet.config.in_channels == 8 and unet.config.out_channels == 4
    assert unet.config.resnet_time_scale_shift == "scale_shift"
    assert unet.down_blocks[0].downsamplers[0].__class__.__name__ == "ResnetBlock2D"
    assert [hasattr(b, "attentions") for b in unet.down_blocks] == [True, True, True, True, False]
    heads_width = {m.inner_dim // m.heads for m in unet.modules() if hasattr(m, "heads")}
    assert heads_width == {4, 8, 16}  # channels / 8 at each attention level
    out = unet(torch.randn(2, 8, 32, 32), torch.tensor([999, 10])).sample
    assert out.shape == (2, 4, 32, 32)


def test_widened_input_conv_keeps_the_pretrained_behaviour():
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=8, layers_per_block=1)
    x = torch.randn(1, 4, 8, 8)
    before = unet.conv_in(x)
    old_weight = unet.conv_in.weight.detach().clone()
    widen_input_conv(unet)
    assert unet.conv_in.weight.shape[1] == 8 and unet.config.in_channels == 8
    torch.testing.assert_close(unet.conv_in.weight[:, :4], old_weight / 2)
    torch.testing.assert_close(unet.conv_in(torch.cat([x, x], dim=1)), before)
