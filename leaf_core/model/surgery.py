"""Surgery on a pretrained U-Net: widen the input conv from 4 to 8 channels (as in Marigold)."""

from __future__ import annotations

import torch
from diffusers import UNet2DModel


def widen_input_conv(unet: UNet2DModel) -> UNet2DModel:
    """Double the input channels: the pretrained weights repeated twice and halved.

    The widened conv computes what the original did when both halves of the input are equal, so
    the pretrained U-Net's behaviour is kept at the start of training.
    """
    old = unet.conv_in
    new = torch.nn.Conv2d(2 * old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding)
    with torch.no_grad():
        new.weight.copy_(old.weight.repeat(1, 2, 1, 1) / 2.0)
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=2 * old.in_channels)
    return unet
