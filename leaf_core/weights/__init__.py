"""Weights that ship inside the package: TAESD (MIT), the `cpu` preset's mask autoencoder.

A source named ``embedded:<name>`` (e.g. ``embedded:taesd``) means the folder of that name here,
so a model card records where its autoencoder came from without a machine-specific path.
"""

from __future__ import annotations

from pathlib import Path

TAESD_ENCODER_FILE = "taesd_encoder.safetensors"  # TAESD's original layout (taesd.py's nn.Sequential)
TAESD_DECODER_FILE = "taesd_decoder.safetensors"
EMBEDDED_PREFIX = "embedded:"
EMBEDDED_TAESD = f"{EMBEDDED_PREFIX}taesd"
WEIGHTS_DIR = Path(__file__).resolve().parent


def is_embedded(source: str | Path) -> bool:
    """True for a source string of the form ``embedded:<name>``."""
    return isinstance(source, str) and source.startswith(EMBEDDED_PREFIX)


def embedded_folder(source: str) -> Path:
    """The folder of an ``embedded:<name>`` source; ValueError for a name the package does not ship."""
    name = source.removeprefix(EMBEDDED_PREFIX)
    folder = WEIGHTS_DIR / name
    if not name or "/" in name or not folder.is_dir():
        shipped = sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise ValueError(f"no embedded weights {name!r}; the package ships {shipped}")
    return folder
