"""Build a new LEAF model from a preset, with any component replaced from a folder or hub id."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from diffusers import UNet2DModel

from leaf_core.errors import LeafError, ModelLoadError
from leaf_core.model.autoencoder import build_autoencoder, load_autoencoder
from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.parameterization import DEFAULT_PREDICTION_TYPE, NoiseScheduleConfig
from leaf_core.model.presets import get_preset
from leaf_core.model.surgery import widen_input_conv
from leaf_core.model.unet import build_unet, set_attention_heads

log = logging.getLogger(__name__)

RANDOM_AUTOENCODER = "random"


@dataclass
class ModelSources:
    """Where each component comes from: None means the preset's default (autoencoder) or its
    config (U-Net, image encoder = copy of the autoencoder's encoder)."""

    autoencoder: str | None = None
    image_encoder: str | None = None
    unet: str | None = None


def build_model(preset_name: str = "cpu", sources: ModelSources | None = None, resolution: int | None = None,
                prediction_type: str = DEFAULT_PREDICTION_TYPE, schedule: NoiseScheduleConfig | None = None) -> LeafModel:
    """A new model ready to train.

    The frozen mask autoencoder must be a trained one: when neither the named source nor the
    preset's default can be loaded, this is an error that says how to get one (stage one,
    ``leaf train-autoencoder``), never a silent untrained autoencoder. ``--autoencoder random``
    builds an untrained one on purpose (for structure tests); the card says so.
    """
    preset = get_preset(preset_name)
    sources = sources or ModelSources()
    resolution = resolution or preset.resolution
    if resolution % 32:
        raise ValueError(f"resolution must be a multiple of 32, got {resolution}")
    card = ModelCard(name=f"LEAF {preset.name}", preset=preset.name)

    if sources.autoencoder == RANDOM_AUTOENCODER:
        autoencoder = build_autoencoder(preset.autoencoder_class)
        card.autoencoder = f"untrained {preset.autoencoder_class} (asked for with --autoencoder random)"
        card.notes.append("The mask autoencoder is untrained: it cannot decode masks until trained.")
    else:
        source = sources.autoencoder or preset.autoencoder
        try:
            autoencoder = load_autoencoder(source)
        except ModelLoadError as error:
            if sources.autoencoder is not None:
                raise
            raise LeafError(
                f"the {preset.name} preset's autoencoder {source!r} could not be loaded ({error.problem}). "
                "Give a local copy with --autoencoder FOLDER, or train one on your data first: "
                "leaf train-autoencoder --data DATA --out AE_DIR, then --autoencoder AE_DIR"
            ) from error
        card.autoencoder = str(source)

    if sources.image_encoder is not None:
        image_encoder = _load(ImageEncoder, sources.image_encoder)
    else:
        image_encoder = ImageEncoder.from_autoencoder(autoencoder)

    latent_channels = int(autoencoder.config.latent_channels)
    if sources.unet is not None:
        unet = _load(UNet2DModel, sources.unet)
        if unet.config.in_channels == latent_channels:
            unet = widen_input_conv(unet)
        set_attention_heads(unet, preset.num_attention_heads)
    else:
        unet = build_unet(preset.unet_spec(resolution, latent_channels))

    config = LeafConfig(resolution=resolution, prediction_type=prediction_type, schedule=schedule or NoiseScheduleConfig())
    return LeafModel(autoencoder, image_encoder, unet, config, card)


def _load(cls: type, source: str | Path):
    try:
        return cls.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(source, " ".join(str(error).split())[:300]) from error
