"""The LEAF model: frozen mask autoencoder, trainable image encoder, 8-channel U-Net, schedule.

A model folder is self-describing:

    leaf_config.json      resolution, parameterization, noise schedule and sampler settings, threshold
    model_card.json       name, version, sources, training data, steps, metrics
    mask_autoencoder/     diffusers AutoencoderKL or AutoencoderTiny (frozen)
    image_encoder/        ImageEncoder (initialised from the autoencoder's encoder)
    unet/                 diffusers UNet2DModel, input conv of 2 x latent channels, its head count
                          in its own config.json (model/unet.py)

Weights are safetensors only; nothing in a model folder can run code when loaded.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import DDIMScheduler, UNet2DModel
from torch import nn

from leaf_core.errors import ModelLoadError
from leaf_core.model.autoencoder import (
    AUTOENCODER_CLASSES, Autoencoder, decode_latent, decoded_to_probability, downsample_factor, encoder_parameter_names,
)
from leaf_core.model.config import CONFIG_FILE, LeafConfig, ModelCard
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.parameterization import NoiseScheduleConfig, make_scheduler
from leaf_core.model.unet import load_unet

log = logging.getLogger(__name__)

COMPONENTS = ("mask_autoencoder", "image_encoder", "unet")


class LeafModel(nn.Module):
    """The three networks plus the config and card; ``Predictor`` runs it, the trainer trains it."""

    def __init__(self, mask_autoencoder: Autoencoder, image_encoder: ImageEncoder, unet: UNet2DModel,
                 config: LeafConfig, card: ModelCard | None = None) -> None:
        super().__init__()
        latent_channels = mask_autoencoder.config.latent_channels
        if unet.config.in_channels != 2 * latent_channels or unet.config.out_channels != latent_channels:
            raise ValueError(
                f"the U-Net takes {unet.config.in_channels} and gives {unet.config.out_channels} channels; "
                f"a LEAF U-Net for {latent_channels}-channel latents takes {2 * latent_channels} and gives {latent_channels}"
            )
        self.mask_autoencoder = mask_autoencoder
        self.mask_autoencoder.requires_grad_(False).eval()
        self.image_encoder = image_encoder
        self.unet = unet
        self.config = config
        self.card = card or ModelCard()
        self.scheduler: DDIMScheduler = make_scheduler(config.schedule, config.prediction_type)

    @property
    def latent_channels(self) -> int:
        return int(self.mask_autoencoder.config.latent_channels)

    @property
    def downsample_factor(self) -> int:
        """Image pixels per latent pixel along one side (8 for kl-f8 and TAESD)."""
        return downsample_factor(self.mask_autoencoder)

    @property
    def latent_size(self) -> int:
        return self.config.resolution // self.downsample_factor

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def set_schedule(self, schedule: NoiseScheduleConfig) -> None:
        """Sample with another schedule's settings from now on (e.g. clip_sample on or off, to
        measure it); the weights and the saved folder are untouched until ``save_pretrained``."""
        self.config.schedule = schedule
        self.scheduler = make_scheduler(schedule, self.config.prediction_type)

    def decode_probability(self, mask_latents: torch.Tensor) -> torch.Tensor:
        """Foreground probability (B, R, R) in [0, 1] from scaled mask latents."""
        return decoded_to_probability(decode_latent(self.mask_autoencoder, mask_latents))

    def inference_parameter_count(self) -> int:
        """Parameters a prediction uses: image encoder, U-Net and the mask decoder (not the mask
        autoencoder's encoder, which only training uses; no teacher or projector: training only)."""
        unused = {f"mask_autoencoder.{name}" for name in encoder_parameter_names(self.mask_autoencoder)}
        return sum(p.numel() for name, p in self.named_parameters() if name not in unused)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model folder; an existing folder is replaced only once the new one is complete."""
        folder = Path(folder)
        staging = folder.with_name(f".{folder.name}.saving")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in COMPONENTS:
            getattr(self, name).save_pretrained(staging / name, safe_serialization=True)
        self.config.save(staging)
        self.card.save(staging)
        replace_folder(staging, folder)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device | None = None) -> "LeafModel":
        """Load a model folder; every problem becomes a ModelLoadError that says what is wrong."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelLoadError(folder, "no such model folder")
        if not (folder / CONFIG_FILE).exists():
            raise ModelLoadError(folder, f"not a LEAF model folder (no {CONFIG_FILE})")
        try:
            config = LeafConfig.load(folder)
            card = ModelCard.load(folder)
        except (ValueError, TypeError, KeyError) as error:
            raise ModelLoadError(folder, f"unreadable config ({error})") from error
        autoencoder = _load_component(folder / "mask_autoencoder", _autoencoder_class(folder / "mask_autoencoder"))
        image_encoder = _load_component(folder / "image_encoder", ImageEncoder)
        # Folders written before the U-Net's config held its head count kept it in leaf_config.json.
        legacy_heads = json.loads((folder / CONFIG_FILE).read_text()).get("unet_attention_heads")
        unet = _load_component(folder / "unet", lambda path: load_unet(path, legacy_heads))
        try:
            model = cls(autoencoder, image_encoder, unet, config, card)
        except ValueError as error:
            raise ModelLoadError(folder, str(error)) from error
        model.eval()
        return model.to(device) if device is not None else model


def _autoencoder_class(folder: Path) -> type:
    try:
        class_name = json.loads((folder / "config.json").read_text()).get("_class_name")
    except (OSError, ValueError) as error:
        raise ModelLoadError(folder, f"missing or unreadable config.json ({error})") from error
    if class_name not in AUTOENCODER_CLASSES:
        raise ModelLoadError(folder, f"unsupported autoencoder class {class_name!r}")
    return AUTOENCODER_CLASSES[class_name]


def _load_component(folder: Path, load: type | Callable[[Path], nn.Module]) -> nn.Module:
    """A component folder loaded by a diffusers class (or a loader function), every problem a ModelLoadError."""
    if not (folder / "config.json").exists():
        raise ModelLoadError(folder, "missing config.json")
    if not any(folder.glob("*.safetensors")):
        raise ModelLoadError(folder, "no .safetensors weights (pickled weights are never loaded)")
    try:
        if isinstance(load, type):
            return load.from_pretrained(folder, use_safetensors=True, low_cpu_mem_usage=False)
        return load(folder)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as error:
        message = " ".join(str(error).split())[:300]
        raise ModelLoadError(folder, f"weights do not fit the config ({message})") from error


def replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; the old ``target`` is removed only after the new one is in place.

    Entries of the old folder that the new one does not have (a fine-tune's ``training/`` log,
    say) are carried over: a save replaces the model's own files and nothing else.
    """
    if not target.exists():
        new.rename(target)
        return
    for entry in target.iterdir():
        if not (new / entry.name).exists():
            entry.rename(new / entry.name)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
