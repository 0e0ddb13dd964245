"""The TAESD inside the package: a fresh offline install trains and predicts with no other weights."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from leaf_core.metrics import dice_score
from leaf_core.model import LeafModel
from leaf_core.model.autoencoder import decode_latent, encode_latent, masks_to_autoencoder_input
from leaf_core.testing import write_synthetic_dataset
from leaf_core.weights import EMBEDDED_TAESD, WEIGHTS_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]


def clean_offline_env(home: Path) -> dict[str, str]:
    """No hub cache, no network, nothing but what the package carries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "DIFFUSERS_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(home / "hf"), XDG_CACHE_HOME=str(home / "cache"), OMP_NUM_THREADS="1",
               LEAF_DATA_DIR=str(home / "leaf-data"))
    return env


def test_train_with_no_autoencoder_flag_offline_builds_on_the_embedded_taesd(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", n=6)
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "leaf_core.cli.main", "train", "--preset", "cpu", "--data", str(data), "--out", str(run),
         "--steps", "2", "--resolution", "64", "--val-every", "2"],
        env=clean_offline_env(tmp_path), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model = LeafModel.from_pretrained(run / "model")
    assert model.card.autoencoder == EMBEDDED_TAESD
    # Its frozen autoencoder is TAESD's weights (compared with the files, independent of our loader) ...
    encoder_files = load_file(WEIGHTS_DIR / "taesd" / "taesd_encoder.safetensors")
    saved = model.mask_autoencoder.state_dict()
    for key, tensor in encoder_files.items():
        assert torch.equal(saved[f"encoder.layers.{key}"], tensor.float()), key
    # ... so it gives a mask back through its latent, which a random autoencoder cannot.
    mask = np.zeros((64, 64), bool)
    mask[16:44, 10:40] = True
    with torch.no_grad():
        images = masks_to_autoencoder_input(torch.from_numpy(mask)[None, None])
        decoded = decode_latent(model.mask_autoencoder, encode_latent(model.mask_autoencoder, images))
    assert dice_score(decoded.mean(dim=1)[0].numpy() > 0, mask) > 0.95


def test_a_wheel_carries_the_embedded_weights_and_their_licence(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO_ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("leaf_annotate-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("taesd_encoder.safetensors", "taesd_decoder.safetensors", "LICENSE", "SOURCE.md"):
        assert f"leaf_core/weights/taesd/{name}" in names
