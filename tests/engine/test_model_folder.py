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
        build_model("paper")  # offline in tests: the preset's hub autoencoder cannot be had
    random = build_model("cpu", ModelSources(autoencoder="random"), resolution=64)
    assert random.card.autoencoder.startswith("untrained") and random.card.notes


def same_outputs(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal to float32 rounding (weights loaded into other buffers take other multithreaded kernel
    paths, ~1e-6); a wrong head count changes the outputs by ~0.1."""
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def unet_output(unet, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(2, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size, generator=generator)
    with torch.no_grad():
        return unet(sample, torch.tensor([999, 10])).sample


def test_a_saved_unet_folder_alone_gives_the_same_outputs_with_diffusers(tmp_path):
    from diffusers import UNet2DModel

    model = build_tiny_model(seed=2)
    folder = model.save_pretrained(tmp_path / "m")
    config = json.loads((folder / "unet" / "config.json").read_text())
    assert config["num_attention_heads"] == 2 and config["attention_head_dim"] == 32  # 64 channels / 2 heads
    alone = UNet2DModel.from_pretrained(folder / "unet")  # diffusers only: no leaf_config.json, none of our code
    same_outputs(unet_output(alone), unet_output(model.unet))


def test_a_unet_whose_attention_widths_differ_keeps_its_head_count_in_its_own_folder(tmp_path):
    """The cpu preset's U-Net: 4 heads at 128 and at 256 channels, which no single diffusers head width gives."""
    from diffusers import UNet2DModel

    from leaf_core.model.presets import get_preset
    from leaf_core.model.unet import attention_heads, build_unet, load_unet

    torch.manual_seed(0)
    unet = build_unet(get_preset("cpu").unet_spec(resolution=64))
    unet.save_pretrained(tmp_path / "unet")
    loaded = load_unet(tmp_path / "unet")
    assert attention_heads(loaded) == {4}
    assert attention_heads(UNet2DModel.from_pretrained(tmp_path / "unet")) == {8, 16}  # diffusers alone: 128 and 256 / 16
    same_outputs(unet_output(loaded), unet_output(unet))


def test_a_model_folder_written_before_the_unet_held_its_head_count_still_loads(tmp_path):
    from leaf_core.model.unet import attention_heads

    model = build_tiny_model(seed=4)
    folder = model.save_pretrained(tmp_path / "m")
    for name, key, value in (("unet/config.json", "num_attention_heads", None), ("leaf_config.json", "unet_attention_heads", 2)):
        data = json.loads((folder / name).read_text())
        data.pop(key, None)
        if value is not None:
            data[key] = value
        (folder / name).write_text(json.dumps(data))
    data = json.loads((folder / "unet" / "config.json").read_text())
    data["attention_head_dim"] = 16  # as build_unet wrote it: block_out_channels[0] / heads
    (folder / "unet" / "config.json").write_text(json.dumps(data))
    loaded = LeafModel.from_pretrained(folder)
    assert attention_heads(loaded.unet) == {2}
    same_outputs(unet_output(loaded.unet), unet_output(model.unet))


def test_inference_parameter_count_is_what_a_prediction_uses():
    model = build_tiny_model(seed=5)
    encoder_side = sum(p.numel() for p in model.mask_autoencoder.encoder.parameters())
    assert model.inference_parameter_count() == sum(p.numel() for p in model.parameters()) - encoder_side
    with torch.no_grad():  # the mask autoencoder's encoder is not used by a prediction: poisoning it changes nothing
        for parameter in model.mask_autoencoder.encoder.parameters():
            parameter.fill_(float("nan"))
    predictor = Predictor(model, device="cpu", precision="fp32")
    predictor.set_image(np.full((64, 64, 3), 90, np.uint8))
    assert np.isfinite(predictor.predict().probability).all()
