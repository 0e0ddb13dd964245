"""Stage one (the first stage of latent diffusion): settings, architectures and the card.

A trained autoencoder lives in a folder that ``load_autoencoder`` and ``leaf train --autoencoder``
accept as is:

    AE_DIR/
        vae/config.json                         diffusers AutoencoderTiny or AutoencoderKL
        vae/diffusion_pytorch_model.safetensors the best weights by val mask reconstruction Dice
        vae/autoencoder_card.json               data, steps, resolution, val mask Dice, ...
        train_log.jsonl                         the progress records (docs/architecture.md)

``vae/`` is replaced as a whole on every new best, so an interrupted save never leaves a folder
whose weights and card disagree.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from leaf_core.io.atomic import atomic_write_text

WEIGHTS_DIR = "vae"
CARD_FILE = "autoencoder_card.json"
ARCHITECTURES = ("tiny", "kl")


@dataclass
class AutoencoderTrainConfig:
    """Everything a stage-one run needs.

    out: the autoencoder folder (see the module doc). downsample: image pixels per latent pixel
    along one side (a power of two; 8 as in kl-f8 and TAESD). width: channels of every block
    (tiny) or of the first block (kl, which doubles once, like a small kl-f8).
    """

    data: Path
    out: Path
    architecture: str = "tiny"
    latent_channels: int = 4
    downsample: int = 8
    width: int = 32
    resolution: int = 128
    steps: int = 600
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 20
    grad_clip: float = 1.0
    image_weight: float = 0.5
    dice_weight: float = 0.5
    kl_weight: float = 1e-6
    seed: int = 0
    val_every: int = 100
    augment: bool = True
    device: str | None = None
    progress_jsonl: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        check_architecture(self.architecture, self.latent_channels, self.downsample, self.width)
        if self.resolution % self.downsample:
            raise ValueError(f"resolution {self.resolution} is not a multiple of --downsample {self.downsample}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("--steps and --batch-size must be at least 1")

    def as_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    def card_settings(self) -> dict[str, Any]:
        """The settings without the data and output folders: a card travels with the autoencoder,
        and a folder's path may name a patient."""
        return {k: v for k, v in self.as_json().items() if k not in ("data", "out")}


def check_architecture(architecture: str, latent_channels: int, downsample: int, width: int) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown autoencoder architecture {architecture!r}; expected one of {ARCHITECTURES}")
    if downsample < 2 or downsample & (downsample - 1):
        raise ValueError(f"--downsample must be a power of two (2, 4, 8, 16...), got {downsample}")
    if latent_channels < 1:
        raise ValueError(f"--latent-channels must be at least 1, got {latent_channels}")
    if width < 8 or width % 8:
        raise ValueError(f"--width must be a multiple of 8, got {width}")


def autoencoder_architecture(architecture: str = "tiny", latent_channels: int = 4, downsample: int = 8,
                             width: int = 32) -> tuple[str, dict[str, Any]]:
    """The diffusers class name and config of a small stage-one autoencoder.

    ``downsample`` = 2 ** (number of stride-2 stages), so 8 gives 4 blocks (3 downsamplings), as in
    kl-f8 and TAESD. The scaling factor is set after training from the latents' spread.
    """
    check_architecture(architecture, latent_channels, downsample, width)
    blocks = int(math.log2(downsample)) + 1
    if architecture == "tiny":
        # TAESD's layout with one residual block per level (TAESD: 64 channels, 1/3/3/3 blocks).
        return "AutoencoderTiny", dict(
            encoder_block_out_channels=(width,) * blocks,
            decoder_block_out_channels=(width,) * blocks,
            num_encoder_blocks=(1,) * blocks,
            num_decoder_blocks=(1,) * blocks,
            latent_channels=latent_channels,
            scaling_factor=1.0,
        )
    if architecture == "kl":
        channels = tuple(width if i == 0 else 2 * width for i in range(blocks))
        return "AutoencoderKL", dict(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * blocks,
            up_block_types=("UpDecoderBlock2D",) * blocks,
            block_out_channels=channels,
            layers_per_block=1,
            latent_channels=latent_channels,
            norm_num_groups=min(32, width // 2),
            scaling_factor=1.0,
        )
    raise ValueError(f"unknown autoencoder architecture {architecture!r}")


@dataclass
class AutoencoderCard:
    """What a stage-one autoencoder was trained on and how well masks come back through it."""

    name: str = "LEAF stage-one autoencoder"
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    architecture: str = "AutoencoderTiny"
    latent_channels: int = 4
    downsample: int = 8
    resolution: int = 128
    training_data: str | None = None
    train_images: int = 0
    steps: int = 0
    val_mask_dice: float | None = None
    """Mean Dice of val masks encoded and decoded at ``resolution``: the ceiling of every LEAF
    model built on this autoencoder."""
    val_image_l1: float | None = None
    scaling_factor: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        atomic_write_text(folder / CARD_FILE, json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> "AutoencoderCard | None":
        """The card of an autoencoder folder (AE_DIR or AE_DIR/vae), or None when it has none."""
        folder = Path(folder)
        for path in (folder / CARD_FILE, folder / WEIGHTS_DIR / CARD_FILE):
            if path.exists():
                data = json.loads(path.read_text())
                known = set(cls.__dataclass_fields__)
                return cls(**{k: v for k, v in data.items() if k in known})
        return None
