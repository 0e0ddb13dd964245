"""Build a `paper`-preset model from the original CompVis checkpoints (kl-f8 and an LDM U-Net).

The kl-f8 ``model.ckpt`` holds ``encoder.*``, ``decoder.*``, ``quant_conv.*``, ``post_quant_conv.*``
and the training loss (``loss.*``: LPIPS and discriminator, not part of the model). The LDM
``model.ckpt`` (lsun_churches) holds the U-Net under ``model.diffusion_model.``, its own copy of the
autoencoder under ``first_stage_model.`` and schedule buffers. The mask autoencoder and the image
encoder both start from kl-f8 (the paper initialises E_theta as a copy of E); the U-Net's input
conv is widened from 4 to 8 channels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from leaf_core.convert.ldm_autoencoder import LATENT_SCALE, LDM_VAE_PREFIX, autoencoder_from_ldm, diffusers_config_from_ldm
from leaf_core.convert.ldm_unet import LDM_UNET_PREFIX, spec_from_openaimodel_config, unet_from_openaimodel
from leaf_core.convert.reference import ImportSource, preset_name_of
from leaf_core.convert.tensor_rules import ConversionError
from leaf_core.convert.weights_files import lightning_state_dict
from leaf_core.errors import ModelLoadError
from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.parameterization import NoiseScheduleConfig

log = logging.getLogger(__name__)

# CompVis models/first_stage_models/kl-f8/config.yaml (ddconfig + embed_dim)
KL_F8_LDM_CONFIG = dict(double_z=True, z_channels=4, embed_dim=4, resolution=256, in_channels=3, out_ch=3, ch=128,
                        ch_mult=[1, 2, 4, 4], num_res_blocks=2, attn_resolutions=[])
# CompVis configs/latent-diffusion/lsun_churches-ldm-kl-8.yaml (unet_config.params): the `paper` preset
LSUN_CHURCHES_UNET_CONFIG = dict(image_size=32, in_channels=4, out_channels=4, model_channels=192,
                                 attention_resolutions=[1, 2, 4, 8], num_res_blocks=2, channel_mult=[1, 2, 2, 4, 4],
                                 num_heads=8, use_scale_shift_norm=True, resblock_updown=True, dropout=0.2)
LOSS_PREFIX = "loss."


def with_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def import_compvis(vae_ckpt: str | Path | None, unet_ckpt: str | Path, out_dir: str | Path,
                   name: str | None = None, task: str | None = None,
                   unet_config: dict | None = None, vae_config: dict | None = None) -> LeafModel:
    """A new `paper` model from CompVis checkpoints, saved at ``out_dir``; ready to train, not to predict.

    vae_ckpt: the kl-f8 ``model.ckpt``; None takes the LDM checkpoint's own ``first_stage_model``.
    unet_config / vae_config: the CompVis configs of the checkpoints (default: lsun_churches and
    kl-f8, which give the `paper` preset).
    """
    origin = ImportSource("CompVis latent-diffusion checkpoints", f"vae={vae_ckpt}, unet={unet_ckpt}")
    notes: list[str] = []

    unet_path = Path(unet_ckpt)
    ldm_state = lightning_state_dict(unet_path)
    origin.record([unet_path])
    unet_state = with_prefix(ldm_state, LDM_UNET_PREFIX)
    if not unet_state:
        raise ModelLoadError(unet_path, f"no U-Net tensors (nothing under '{LDM_UNET_PREFIX}'); "
                                        "expected a latent-diffusion model.ckpt")
    if any(k.startswith("model_ema.") for k in ldm_state):
        notes.append("The LDM checkpoint also holds EMA weights (model_ema.*); the training weights were used.")

    if vae_ckpt is not None:
        vae_path = Path(vae_ckpt)
        vae_state = lightning_state_dict(vae_path)
        origin.record([vae_path])
        if any(k.startswith(LDM_VAE_PREFIX) for k in vae_state):
            vae_state = with_prefix(vae_state, LDM_VAE_PREFIX)
    else:
        vae_path = unet_path
        vae_state = with_prefix(ldm_state, LDM_VAE_PREFIX)
        if not vae_state:
            raise ModelLoadError(unet_path, "holds no autoencoder (first_stage_model.*); pass --vae KL_F8_CKPT")
    del ldm_state
    dropped = [k for k in vae_state if k.startswith(LOSS_PREFIX)]
    vae_state = {k: v for k, v in vae_state.items() if not k.startswith(LOSS_PREFIX)}
    if dropped:
        notes.append(f"{len(dropped)} training-loss tensors (loss.*: LPIPS, discriminator) of the kl-f8 "
                     "checkpoint are not part of the model and were left out.")

    spec = spec_from_openaimodel_config(unet_config or LSUN_CHURCHES_UNET_CONFIG)
    try:
        unet = unet_from_openaimodel(unet_state, spec)
    except ConversionError as error:
        raise ModelLoadError(unet_path, f"is not the paper's LDM U-Net (lsun_churches layout): {error}") from error
    autoencoder_config = diffusers_config_from_ldm(vae_config or KL_F8_LDM_CONFIG, LATENT_SCALE)
    try:
        autoencoder = autoencoder_from_ldm(vae_state, autoencoder_config)
    except ConversionError as error:
        raise ModelLoadError(vae_path, f"is not a kl-f8 autoencoder: {error}") from error
    image_encoder = ImageEncoder.from_autoencoder(autoencoder)

    origin.used = {"unet": f"{unet_path.name}: {LDM_UNET_PREFIX}*", "mask_autoencoder": f"{vae_path.name}",
                   "image_encoder": "copy of the mask autoencoder's encoder"}
    resolution = spec.sample_size * 2 ** (len(autoencoder_config["block_out_channels"]) - 1)
    config = LeafConfig(resolution=resolution, schedule=NoiseScheduleConfig())
    card = ModelCard(
        name=name or "LEAF paper (CompVis start)",
        preset=preset_name_of(spec),
        task=task,
        autoencoder="kl-f8 (CompVis)",
        source=origin.as_card_entry(),
        notes=["Built from the CompVis checkpoints by `leaf import-weights --from compvis`: untrained for "
               "segmentation; train or fine-tune it before predicting.", *notes],
    )
    model = LeafModel(autoencoder, image_encoder, unet, config, card)
    model.eval()
    model.save_pretrained(out_dir)
    log.info("built a paper model from %s and %s into %s", vae_ckpt, unet_ckpt, out_dir)
    return model
