"""Stage one inside `leaf train`: ``--autoencoder stage-one`` trains a mask autoencoder on the
same data first (as `leaf train-autoencoder` does) and builds the model on it, in one process
with the usual ``--progress-jsonl`` contract.

New models do not need it: the `cpu` preset's TAESD ships inside the package. It is there for
users who want an autoencoder of their own (another latent size, masks unlike TAESD's images).
Plain data and no Qt.
"""

from __future__ import annotations

from pathlib import Path

from leaf_core.weights import TAESD_DECODER_FILE, TAESD_ENCODER_FILE

STAGE_ONE_AUTOENCODER = "stage-one"  # the `leaf train --autoencoder` value that runs stage one first
STAGE_ONE_DIR = "autoencoder"  # where stage one writes, inside the run folder
STAGE_ONE_STEPS = 200
STAGE_ONE_MESSAGE = "LEAF first trains a mask autoencoder on your masks (stage one), then trains the model on it."


def is_autoencoder_folder(folder: str | Path) -> bool:
    """True for a folder ``load_autoencoder`` takes without the hub: TAESD files, or a diffusers
    config.json (itself or in vae/). Cheap: nothing is loaded."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (folder / TAESD_ENCODER_FILE).exists() and (folder / TAESD_DECODER_FILE).exists():
        return True
    return (folder / "config.json").exists() or (folder / "vae" / "config.json").exists()
