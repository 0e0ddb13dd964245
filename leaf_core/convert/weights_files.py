"""Reading other people's weight files without running their code.

safetensors files are read as they are. Pickled files (.bin, .ckpt, .pt, .pth) are read only with
``torch.load(weights_only=True)``: tensors, containers and numbers, nothing that can execute.
One exception is made by name: old PyTorch Lightning checkpoints (the CompVis ones) store the
*class* ``ModelCheckpoint`` as a dict key of their callback state; that one name resolves to an
inert placeholder, so no Lightning code is imported or run. Anything else is refused.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from leaf_core.errors import ModelLoadError

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth")


class LightningPlaceholder:
    """Stands in for a Lightning class named in a checkpoint; never does anything."""


# Only names seen as plain class references in the CompVis latent-diffusion checkpoints.
INERT_GLOBALS = (
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint",
)


def load_pickled_weights(path: str | Path) -> dict:
    """The object in a pickled weights file, loaded with weights_only=True; ModelLoadError if unsafe."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals([(LightningPlaceholder, name) for name in INERT_GLOBALS]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelLoadError(path, "no such file") from error
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or others for unsafe files
        message = str(error)
        found = re.search(r"GLOBAL ([\w.]+)", message)
        if found or "weights_only" in message.lower() or "Weights only load failed" in message:
            what = f" (it needs {found.group(1)})" if found else ""
            raise ModelLoadError(
                path,
                f"refusing to load: the file holds Python objects besides tensors{what}, and unpickling "
                "them could run arbitrary code. Convert it to safetensors in a trusted environment first.",
            ) from error
        raise ModelLoadError(path, f"not a readable PyTorch weights file ({type(error).__name__}: "
                                   f"{message.splitlines()[0] if message else ''})") from error
    if not isinstance(loaded, dict):
        raise ModelLoadError(path, f"holds a {type(loaded).__name__}, not a dict of tensors")
    return loaded


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} from a .safetensors file or a pickled one (see ``load_pickled_weights``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except Exception as error:  # safetensors raises its own SafetensorError
            raise ModelLoadError(path, f"unreadable safetensors file ({error})") from error
    if path.suffix not in PICKLE_SUFFIXES:
        raise ModelLoadError(path, f"unknown weights file type {path.suffix!r}")
    return tensors_only(path, load_pickled_weights(path))


def lightning_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a (PyTorch Lightning) checkpoint, or the file's dict when it is one itself."""
    loaded = load_pickled_weights(path) if Path(path).suffix != ".safetensors" else load_state_dict_file(path)
    state = loaded.get("state_dict", loaded)
    if not isinstance(state, dict):
        raise ModelLoadError(path, "its 'state_dict' is not a dict of tensors")
    return tensors_only(path, state)


def tensors_only(path: str | Path, state: dict) -> dict[str, torch.Tensor]:
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelLoadError(path, f"not a state dict: {bad[0]!r} is a {type(state[bad[0]]).__name__}, not a tensor")
    return dict(state)


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()
