import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from leaf_core.errors import ModelLoadError
from leaf_core.inference import Predictor
from leaf_core.model import LeafModel
from leaf_core.model.autoencoder import load_autoencoder
from leaf_core.testing import build_tiny_model, save_tiny_model


def test_saved_model_reloads_with_identical_predictions(tmp_path):
    model = build_tiny_model(seed=3)
    folder = model.save_pretrained(tmp_path / "m")
    files = {p.suffix for p in folder.rglob("*") if p.is_file()}
    assert files <= {".json", ".safetensors"}, f"only safetensors and JSON in a model folder, got {files}"
    reloaded = LeafModel.from_pretrained(folder)
    image = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    results = []
    for m in (model, reloaded):
        predictor = Predictor(m, device="cpu")
        predictor.set_image(image)
        results.append(predictor.predict(seed=5).probability)
    np.testing.assert_array_equal(results[0], results[1])
    assert reloaded.card.name == "tiny test model"
    assert json.loads((folder / "leaf_config.json").read_text())["prediction_type"] == "sample"


def test_saving_over_a_model_replaces_it_completely(tmp_path):
    folder = save_tiny_model(tmp_path / "m", seed=0)
    first = load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")
    save_tiny_model(folder, seed=1)
    second = load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")
    assert not torch.equal(first["conv_in.weight"], second["conv_in.weight"])
    assert not list(tmp_path.glob(".m.*")), "no staging folders left behind"


def test_checkpoint_of_the_wrong_shape_gives_a_plain_error(tmp_path):
    folder = save_tiny_model(tmp_path / "m")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["conv_in.weight"] = torch.zeros(32, 6, 3, 3)
    save_file(tensors, weights)
    with pytest.raises(ModelLoadError, match="unet"):
        LeafModel.from_pretrained(folder)


def test_pickled_weights_are_never_loaded(tmp_path):
    folder = save_tiny_model(tmp_path / "m")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(weights), folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(ModelLoadError, match="safetensors"):
        LeafModel.from_pretrained(folder)


@pytest.mark.parametrize("problem", ["missing", "not_a_model"])
def test_missing_or_foreign_folders_are_refused(tmp_path, problem):
    folder = tmp_path / "m"
    if problem == "not_a_model":
        folder.mkdir()
        (folder / "readme.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match=str(folder)):
        LeafModel.from_pretrained(folder)


@pytest.mark.shared
def test_taesd_in_the_original_layout_reconstructs_masks(shared_path):
    autoencoder = load_autoencoder(shared_path("weights", "taesd"))
    from leaf_core.metrics import dice_score
    from leaf_core.model.autoencoder import (
        decode_latent, decoded_to_probability, encode_latent, masks_to_autoencoder_input,
    )

    yy, xx = np.mgrid[:128, :128]
    mask = ((yy - 60) ** 2 + (xx - 70) ** 2 < 30**2).astype(np.float32)
    with torch.no_grad():
        latent = encode_latent(autoencoder, masks_to_autoencoder_input(torch.from_numpy(mask)[None, None]))
        probability = decoded_to_probability(decode_latent(autoencoder, latent))[0].numpy()
    assert latent.shape == (1, 4, 16, 16)
    assert dice_score(probability >= 0.5, mask > 0) > 0.97


def test_a_new_model_never_builds_on_an_untrained_autoencoder_by_accident():
    from leaf_core.errors import LeafError
    from leaf_core.model import ModelSources, build_model

    with pytest.raises(LeafError, match="leaf train-autoencoder"):
        build_model("cpu")  # offline in tests: the preset's hub autoencoder cannot be had
    random = build_model("cpu", ModelSources(autoencoder="random"), resolution=64)
    assert random.card.autoencoder.startswith("untrained") and random.card.notes
