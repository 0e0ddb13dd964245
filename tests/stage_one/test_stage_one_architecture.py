"""Stage-one architectures: --downsample and --latent-channels give the latent shape they promise,
and LEAF builds on them."""

from __future__ import annotations

import pytest
import torch

from leaf_core.model.autoencoder import build_autoencoder, decode_latent, encode_latent
from leaf_core.model.builder import build_model
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.training.autoencoder_config import AutoencoderTrainConfig, autoencoder_architecture


@pytest.mark.parametrize("architecture", ["tiny", "kl"])
@pytest.mark.parametrize(("downsample", "latent_channels"), [(4, 3), (8, 4), (16, 8)])
def test_latent_shape_follows_downsample_and_channels(architecture, downsample, latent_channels):
    class_name, config = autoencoder_architecture(architecture, latent_channels, downsample, width=16)
    torch.manual_seed(0)
    autoencoder = build_autoencoder(class_name, config)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        latents = encode_latent(autoencoder, images)
        decoded = decode_latent(autoencoder, latents)
    assert latents.shape == (2, latent_channels, 32 // downsample, 32 // downsample)
    assert decoded.shape == images.shape
    assert decoded.min() >= -1 and decoded.max() <= 1
    # The image encoder E_theta is a copy of E and gives the same latents.
    with torch.no_grad():
        assert torch.allclose(ImageEncoder.from_autoencoder(autoencoder)(images), latents, atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(downsample=6), dict(downsample=1), dict(latent_channels=0),
                                    dict(architecture="vq"), dict(width=12), dict(resolution=100)])
def test_bad_settings_are_refused_with_a_message(tmp_path, kwargs):
    with pytest.raises(ValueError, match="downsample|latent-channels|architecture|width|resolution"):
        AutoencoderTrainConfig(data=tmp_path, out=tmp_path / "ae", **kwargs)


def test_leaf_model_on_a_16x_autoencoder_with_8_channels(tmp_path):
    """A larger downsampling and another latent width reach the U-Net and the decoder."""
    class_name, config = autoencoder_architecture("tiny", latent_channels=8, downsample=16, width=16)
    build_autoencoder(class_name, config).save_pretrained(tmp_path / "ae" / "vae")
    model = build_model("cpu", _sources(tmp_path / "ae"), resolution=64)
    assert model.latent_channels == 8 and model.downsample_factor == 16 and model.latent_size == 4
    with torch.no_grad():
        image_latents = model.image_encoder(torch.zeros(1, 3, 64, 64))
        out = model.unet(torch.cat([image_latents, torch.randn_like(image_latents)], dim=1), 999).sample
        assert model.decode_probability(out).shape == (1, 64, 64)


def _sources(path):
    from leaf_core.model.builder import ModelSources

    return ModelSources(autoencoder=str(path))
