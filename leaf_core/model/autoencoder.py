"""The frozen mask autoencoder (E, D): loading, latents in and out.

Two diffusers classes serve: AutoencoderKL (the paper's kl-f8) and AutoencoderTiny (TAESD, the
`cpu` preset). Both take images in [-1, 1] and decode to [-1, 1]. Latents handed to the U-Net
are multiplied by the autoencoder's ``scaling_factor`` (0.18215 for kl-f8, 1.0 for TAESD).
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny
from safetensors.torch import load_file

from leaf_core.errors import ModelLoadError
from leaf_core.weights import TAESD_DECODER_FILE, TAESD_ENCODER_FILE, embedded_folder, is_embedded

log = logging.getLogger(__name__)


class _TinyConfigNoise(logging.Filter):
    """AutoencoderTiny saves a ``block_out_channels`` key that its own loader then warns about."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "block_out_channels" not in record.getMessage()


logging.getLogger("diffusers.configuration_utils").addFilter(_TinyConfigNoise())

Autoencoder = AutoencoderKL | AutoencoderTiny
AUTOENCODER_CLASSES: dict[str, type[AutoencoderKL] | type[AutoencoderTiny]] = {
    "AutoencoderKL": AutoencoderKL,
    "AutoencoderTiny": AutoencoderTiny,
}
# diffusers' kl-f8 (the CompVis first stage of latent diffusion and Stable Diffusion 1.x)
KL_F8_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=256,
    scaling_factor=0.18215,
)


def load_autoencoder(source: str | Path) -> Autoencoder:
    """Load an autoencoder from a local folder or a hub id.

    Accepted: a diffusers folder (config.json with _class_name AutoencoderKL/AutoencoderTiny), a
    pipeline folder with a ``vae/`` inside, a TAESD folder in the original layout
    (taesd_encoder.safetensors + taesd_decoder.safetensors), a hub id of any of these, or
    ``embedded:taesd``, the copy of TAESD inside the package (``leaf_core.weights``).
    """
    if is_embedded(source):
        return load_taesd_original(embedded_folder(str(source)))
    path = Path(source)
    if path.is_dir():
        if (path / TAESD_ENCODER_FILE).exists() and (path / TAESD_DECODER_FILE).exists():
            return load_taesd_original(path)
        if not (path / "config.json").exists() and (path / "vae" / "config.json").exists():
            path = path / "vae"
        config_file = path / "config.json"
        if not config_file.exists():
            raise ModelLoadError(path, "no config.json (expected a diffusers autoencoder folder or TAESD files)")
        class_name = json.loads(config_file.read_text()).get("_class_name", "AutoencoderKL")
        cls = AUTOENCODER_CLASSES.get(class_name)
        if cls is None:
            raise ModelLoadError(path, f"unsupported autoencoder class {class_name!r}")
        return _from_pretrained(cls, path)
    if path.exists():
        raise ModelLoadError(path, "is a file; expected a folder or a hub id")
    return _load_from_hub(str(source))


def _from_pretrained(cls: type, source: str | Path, **kwargs: object) -> Autoencoder:
    try:
        return cls.from_pretrained(source, **kwargs)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(source, f"{type(error).__name__}: {str(error).splitlines()[0]}") from error


def _load_from_hub(hub_id: str) -> Autoencoder:
    from diffusers import AutoModel

    for subfolder in (None, "vae"):
        try:
            model = AutoModel.from_pretrained(hub_id, subfolder=subfolder)
        except (OSError, ValueError, RuntimeError) as error:
            last_error = error
            continue
        if isinstance(model, (AutoencoderKL, AutoencoderTiny)):
            return model
        raise ModelLoadError(hub_id, f"is a {type(model).__name__}, not an autoencoder")
    raise ModelLoadError(hub_id, f"not a local folder, and the hub could not provide it ({str(last_error).splitlines()[0]})")


def load_taesd_original(folder: str | Path) -> AutoencoderTiny:
    """Build diffusers' AutoencoderTiny from TAESD files in the original ``nn.Sequential`` layout.

    Encoder keys start at index 0; decoder keys at 1, because index 0 of the original decoder is
    the parameter-free clamp that diffusers applies in ``forward``.
    """
    folder = Path(folder)
    model = AutoencoderTiny()
    state: dict[str, torch.Tensor] = {}
    for key, tensor in load_file(folder / TAESD_ENCODER_FILE).items():
        state[f"encoder.layers.{key}"] = tensor.float()
    for key, tensor in load_file(folder / TAESD_DECODER_FILE).items():
        index, rest = key.split(".", 1)
        state[f"decoder.layers.{int(index) - 1}.{rest}"] = tensor.float()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(folder, f"TAESD weights do not fit ({str(error).splitlines()[0]})") from error
    return model


def build_autoencoder(class_name: str, config: dict | None = None) -> Autoencoder:
    """A randomly initialised autoencoder of a class and config (kl-f8 by default for KL)."""
    cls = AUTOENCODER_CLASSES[class_name]
    if config is None:
        config = KL_F8_CONFIG if cls is AutoencoderKL else {}
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in config.items() if k in accepted})


def encode_unscaled(autoencoder: Autoencoder, images: torch.Tensor) -> torch.Tensor:
    """Latents (B, C, H/f, W/f) of images (B, 3, H, W) in [-1, 1], before the scaling factor; KL uses the mode."""
    if isinstance(autoencoder, AutoencoderKL):
        return autoencoder.encode(images).latent_dist.mode()
    return autoencoder.encode(images).latents


def encode_latent(autoencoder: Autoencoder, images: torch.Tensor) -> torch.Tensor:
    """Scaled latents (B, C, H/f, W/f) of images (B, 3, H, W) in [-1, 1]: what the U-Net sees."""
    return encode_unscaled(autoencoder, images) * autoencoder.config.scaling_factor


def downsample_factor(autoencoder: Autoencoder) -> int:
    """Image pixels per latent pixel along one side (8 for kl-f8 and TAESD): one downsampling per block but the last."""
    config = autoencoder.config
    blocks = config.get("encoder_block_out_channels") or config["block_out_channels"]
    return 2 ** (len(blocks) - 1)


def encoder_parameter_names(autoencoder: Autoencoder) -> set[str]:
    """Names of the encoder side's parameters (``encoder.*``, KL's ``quant_conv.*``): only training uses them."""
    return {name for name, _ in autoencoder.named_parameters() if name.split(".", 1)[0] in ("encoder", "quant_conv")}


def decode_latent(autoencoder: Autoencoder, latents: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [-1, 1] from scaled latents."""
    decoded = autoencoder.decode(latents / autoencoder.config.scaling_factor).sample
    return decoded.clamp(-1.0, 1.0)


def masks_to_autoencoder_input(masks: torch.Tensor) -> torch.Tensor:
    """Binary masks (B, 1, H, W) in {0, 1} as 3-channel images in [-1, 1]."""
    return (masks.float() * 2.0 - 1.0).expand(-1, 3, -1, -1)


def decoded_to_probability(decoded: torch.Tensor) -> torch.Tensor:
    """Decoded masks (B, 3, H, W) in [-1, 1] to foreground probability (B, H, W) in [0, 1]."""
    return ((decoded + 1.0) / 2.0).mean(dim=1).clamp(0.0, 1.0)
