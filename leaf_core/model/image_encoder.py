"""The trainable image encoder E_theta: the encoder half of an autoencoder, initialised from E."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, AutoencoderTiny, ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from leaf_core.model.autoencoder import Autoencoder, build_autoencoder


class ImageEncoder(ModelMixin, ConfigMixin):
    """Maps images (B, 3, H, W) in [-1, 1] to scaled latents (B, C, H/f, W/f).

    Holds the same modules as the autoencoder's encoder side (``encoder`` and, for KL,
    ``quant_conv``), so its weights load from the autoencoder's and from the reference
    ``latent_encoder`` folder by name.
    """

    @register_to_config
    def __init__(self, autoencoder_class: str = "AutoencoderTiny", autoencoder_config: dict | None = None,
                 scaling_factor: float = 1.0) -> None:
        super().__init__()
        source = build_autoencoder(autoencoder_class, autoencoder_config)
        self.encoder = source.encoder
        self.quant_conv = getattr(source, "quant_conv", None) if autoencoder_class == "AutoencoderKL" else None

    @classmethod
    def from_autoencoder(cls, autoencoder: Autoencoder) -> "ImageEncoder":
        """A copy of the autoencoder's encoder side (the paper's initialisation of E_theta)."""
        config = {k: v for k, v in dict(autoencoder.config).items() if not k.startswith("_")}
        encoder = cls(type(autoencoder).__name__, config, float(autoencoder.config.scaling_factor))
        own = encoder.state_dict()
        encoder.load_state_dict({k: v for k, v in autoencoder.state_dict().items() if k in own}, strict=True)
        return encoder

    def layers(self) -> list[torch.nn.Module]:
        """The encoder's layers from the image side: TAESD's sequence, or KL's conv_in, down blocks,
        mid block and output layers."""
        if self.config.autoencoder_class == "AutoencoderKL":
            encoder = self.encoder
            return [encoder.conv_in, *encoder.down_blocks, encoder.mid_block, encoder.conv_norm_out, encoder.conv_out]
        return list(self.encoder.layers)

    def freeze_first_layers(self, count: int) -> None:
        """Keep the first ``count`` layers as initialised: no gradients, and so no backward pass
        through the full-resolution layers that cost most of a CPU training step."""
        layers = self.layers()
        if not 0 <= count < len(layers):
            raise ValueError(f"frozen image encoder layers must be 0..{len(layers) - 1}, got {count}")
        for layer in layers[:count]:
            layer.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.config.autoencoder_class == "AutoencoderKL":
            moments = self.encoder(images)
            if self.quant_conv is not None:
                moments = self.quant_conv(moments)
            latents = moments.chunk(2, dim=1)[0]  # the mode of the diagonal Gaussian
        else:
            latents = self.encoder(images)  # EncoderTiny maps [-1, 1] to [0, 1] itself
        return latents * self.config.scaling_factor


__all__ = ["ImageEncoder", "AutoencoderKL", "AutoencoderTiny"]
