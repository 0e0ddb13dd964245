"""Build a new LEAF model from a preset, with any component replaced from a folder or hub id."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from diffusers import UNet2DModel

from leaf_core.errors import ModelLoadError
from leaf_core.model.autoencoder import build_autoencoder, load_autoencoder
from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.parameterization import NoiseScheduleConfig
from leaf_core.model.presets import get_preset
from leaf_core.model.surgery import widen_input_conv
from leaf_core.model.unet import build_unet

log = logging.getLogger(__name__)


@dataclass
class ModelSources:
    """Where each component comes from: None means the preset's default (autoencoder) or its
    config (U-Net, image encoder = copy of the autoencoder's encoder)."""

    autoencoder: str | None = None
    image_encoder: str | None = None
    unet: str | None = None


def build_model(preset_name: str = "cpu", sources: ModelSources | None = None, resolution: int | None = None,
                prediction_type: str = "sample", schedule: NoiseScheduleConfig | None = None) -> LeafModel:
    """A new model ready to train.

    An explicitly named autoencoder that cannot be loaded is an error. When the preset's default
    cannot be had (offline, nothing local), the autoencoder is built from config and the card
    says so: it must then be trained first (``leaf train-autoencoder``).
    """
    preset = get_preset(preset_name)
    sources = sources or ModelSources()
    resolution = resolution or preset.resolution
    if resolution % 32:
        raise ValueError(f"resolution must be a multiple of 32, got {resolution}")
    card = ModelCard(name=f"LEAF {preset.name}", preset=preset.name)

    if sources.autoencoder is not None:
        autoencoder = load_autoencoder(sources.autoencoder)
        card.autoencoder = str(sources.autoencoder)
    else:
        try:
            autoencoder = load_autoencoder(preset.autoencoder)
            card.autoencoder = preset.autoencoder
        except ModelLoadError as error:
            log.warning("autoencoder %s unavailable (%s); using an untrained one", preset.autoencoder, error.problem)
            autoencoder = build_autoencoder(preset.autoencoder_class)
            card.autoencoder = f"untrained {preset.autoencoder_class} (could not load {preset.autoencoder})"
            card.notes.append("The mask autoencoder is untrained: train one with `leaf train-autoencoder`.")

    if sources.image_encoder is not None:
        image_encoder = _load(ImageEncoder, sources.image_encoder)
    else:
        image_encoder = ImageEncoder.from_autoencoder(autoencoder)

    latent_channels = int(autoencoder.config.latent_channels)
    if sources.unet is not None:
        unet = _load(UNet2DModel, sources.unet)
        if unet.config.in_channels == latent_channels:
            unet = widen_input_conv(unet)
        heads = preset.num_attention_heads
    else:
        spec = preset.unet_spec(resolution, latent_channels)
        unet = build_unet(spec)
        heads = spec.num_attention_heads

    config = LeafConfig(resolution=resolution, prediction_type=prediction_type,
                        schedule=schedule or NoiseScheduleConfig(), unet_attention_heads=heads)
    return LeafModel(autoencoder, image_encoder, unet, config, card)


def _load(cls: type, source: str | Path):
    try:
        return cls.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(source, " ".join(str(error).split())[:300]) from error
