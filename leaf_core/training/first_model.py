"""Which autoencoder a project's first model starts from, with stage one when there is none.

A new model needs a pretrained mask autoencoder. When neither a local TAESD folder nor a cached
copy of the preset's autoencoder exists (an offline clinic), training on a random frozen
autoencoder would be wasted: its decoder can never give back a mask. Then the first training runs
`leaf train --autoencoder stage-one`: it trains an autoencoder on the same corrections first
(stage one, as `leaf train-autoencoder` does) and builds the model on it, in one process with the
usual ``--progress-jsonl`` contract. Plain data and no Qt.
"""

from __future__ import annotations

from pathlib import Path

from leaf_core.model.autoencoder import TAESD_DECODER_FILE, TAESD_ENCODER_FILE

PRESET_AUTOENCODER = "madebyollin/taesd"  # the cpu preset's default (leaf_core.model.presets)
STAGE_ONE_AUTOENCODER = "stage-one"  # the `leaf train --autoencoder` value that runs stage one first
STAGE_ONE_DIR = "autoencoder"  # where stage one writes, inside the run folder
STAGE_ONE_STEPS = 200
STAGE_ONE_MESSAGE = ("No pretrained autoencoder was found, so LEAF first trains one on your corrections "
                     "(stage one), then trains the model on it.")


def is_autoencoder_folder(folder: str | Path) -> bool:
    """True for a folder ``load_autoencoder`` takes without the hub: TAESD files, or a diffusers
    config.json (itself or in vae/). Cheap: nothing is loaded."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (folder / TAESD_ENCODER_FILE).exists() and (folder / TAESD_DECODER_FILE).exists():
        return True
    return (folder / "config.json").exists() or (folder / "vae" / "config.json").exists()


def find_pretrained_autoencoder(taesd_dir: str | Path | None, hub_id: str | None = None) -> str | None:
    """A pretrained autoencoder to start a new model from: the local TAESD folder, else the
    preset's hub id when the hub cache already holds it, else None (stage one is needed)."""
    if taesd_dir is not None and is_autoencoder_folder(taesd_dir):
        return str(taesd_dir)
    hub_id = hub_id or PRESET_AUTOENCODER
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("config.json", "vae/config.json"):
        if isinstance(try_to_load_from_cache(hub_id, filename), str):
            return hub_id
    return None
