"""`leaf import-weights` end to end: fake reference folders and CompVis checkpoints, then predict."""

import hashlib
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from reference_fakes import UNET_SCALE, documented_shapes, random_state, scaled, scaled_config, write_reference_folder

from leaf_core.cli.main import main
from leaf_core.convert import import_compvis
from leaf_core.convert.compvis import LSUN_CHURCHES_UNET_CONFIG
from leaf_core.convert.ldm_unet import spec_from_openaimodel_config
from leaf_core.convert.weights_files import load_pickled_weights
from leaf_core.errors import ModelLoadError
from leaf_core.model import LeafModel, get_preset
from leaf_core.model.unet import attention_heads


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_reference_folder_imports_and_predicts(tmp_path, capsys):
    source = tmp_path / "LEAF-fake"
    states = write_reference_folder(source, ema=True, pickled=("latent_encoder",))
    out = tmp_path / "imported"
    assert main(["import-weights", "--from", "reference", str(source), "--out", str(out), "--task", "fake lesions"]) == 0

    model = LeafModel.from_pretrained(out)
    assert model.config.resolution == 128 and model.config.prediction_type == "sample"
    assert (model.config.schedule.beta_schedule, model.config.schedule.beta_start, model.config.schedule.beta_end) == \
        ("linear", 0.0015, 0.0155)
    assert attention_heads(model.unet) == {8} and model.unet.config.num_attention_heads == 8
    assert model.mask_autoencoder.config.scaling_factor == model.image_encoder.config.scaling_factor == 0.18215
    # unet_ema/ is the one used
    torch.testing.assert_close(model.unet.conv_out.weight, states["unet"]["out.2.weight"])
    torch.testing.assert_close(model.image_encoder.quant_conv.weight, states["latent_encoder"]["quant_conv.weight"])

    card = model.card
    assert card.task == "fake lesions" and card.source["from"] == str(source)
    assert card.source["components"]["unet"] == "unet_ema/"
    hashes = card.source["sha256"]
    for name in ("unet_ema/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                 "latent_encoder/diffusion_pytorch_model.bin", "scheduler/scheduler_config.json"):
        assert hashes[name] == sha256(source / name)

    image = tmp_path / "xray.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 70), dtype=np.uint8)).save(image)
    assert main(["predict", "--model", str(out), str(image), "--out", str(tmp_path / "masks")]) == 0
    assert Image.open(tmp_path / "masks" / "xray.png").size == (70, 90)


def test_hub_id_without_network_is_a_clear_error(tmp_path, capsys):
    assert main(["import-weights", "--from", "reference", "nobody/no-such-leaf-model", "--out", str(tmp_path / "m")]) == 2
    error = capsys.readouterr().err
    assert "nobody/no-such-leaf-model" in error and "hub could not provide it" in error
    assert main(["import-weights", "--from", "reference", str(tmp_path / "absent"), "--out", str(tmp_path / "m")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_pickled_reference_weights_with_code_are_refused(tmp_path, capsys):
    source = tmp_path / "ref"
    write_reference_folder(source, pickled=("vae",))
    state = torch.load(source / "vae" / "diffusion_pytorch_model.bin", weights_only=True)
    torch.save({**state, "payload": RunsCode()}, source / "vae" / "diffusion_pytorch_model.bin")
    assert main(["import-weights", "--from", "reference", str(source), "--out", str(tmp_path / "m")]) == 2
    error = capsys.readouterr().err
    assert "refusing to load" in error and "diffusion_pytorch_model.bin" in error
    assert "this must never run" not in capsys.readouterr().out
    assert not (tmp_path / "m").exists()


def test_lsun_churches_config_is_the_paper_preset():
    assert spec_from_openaimodel_config(LSUN_CHURCHES_UNET_CONFIG) == get_preset("paper").unet_spec()


@pytest.fixture
def lightning_class(monkeypatch):
    """A stand-in for pytorch_lightning's ModelCheckpoint class, as old checkpoints reference it."""
    name = "pytorch_lightning.callbacks.model_checkpoint"
    module = types.ModuleType(name)

    class ModelCheckpoint:
        pass

    ModelCheckpoint.__module__ = name
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint
    for parent in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    monkeypatch.setitem(sys.modules, name, module)
    return ModelCheckpoint


def write_compvis_checkpoints(folder, lightning_class):
    """Tiny kl-f8 and LDM checkpoints laid out like the CompVis model.ckpt files (plain tensors only)."""
    unet_shapes = scaled(documented_shapes("unet"), UNET_SCALE)
    unet_shapes["input_blocks.0.0.weight"] = (32, 4, 3, 3)  # the pretrained LDM takes 4 channels
    unet_state = random_state(unet_shapes, seed=5)
    vae_state = random_state(scaled(documented_shapes("vae"), 4), seed=6)
    ldm = {f"model.diffusion_model.{k}": v for k, v in unet_state.items()}
    ldm.update({f"first_stage_model.{k}": v for k, v in vae_state.items()}, betas=torch.linspace(0, 1, 10))
    torch.save({"state_dict": ldm, "global_step": 1, "callbacks": {lightning_class: {"best_model_score": 1.0}}},
               folder / "ldm.ckpt")
    kl = dict(vae_state, **{"loss.logvar": torch.zeros(()), "loss.discriminator.main.0.weight": torch.zeros(2, 3)})
    torch.save({"state_dict": kl, "epoch": 3}, folder / "kl-f8.ckpt")
    return unet_state, vae_state


def test_compvis_checkpoints_build_a_model_with_a_widened_input_conv(tmp_path, lightning_class):
    unet_state, vae_state = write_compvis_checkpoints(tmp_path, lightning_class)
    model = import_compvis(tmp_path / "kl-f8.ckpt", tmp_path / "ldm.ckpt", tmp_path / "model",
                           unet_config=scaled_config("unet"), vae_config=scaled_config("vae"))
    loaded = LeafModel.from_pretrained(tmp_path / "model")
    conv = loaded.unet.conv_in.weight
    assert conv.shape == (32, 8, 3, 3)
    torch.testing.assert_close(conv[:, :4], unet_state["input_blocks.0.0.weight"] / 2)
    torch.testing.assert_close(conv[:, 4:], unet_state["input_blocks.0.0.weight"] / 2)
    torch.testing.assert_close(loaded.mask_autoencoder.decoder.conv_out.weight, vae_state["decoder.conv_out.weight"])
    torch.testing.assert_close(loaded.image_encoder.encoder.conv_in.weight, vae_state["encoder.conv_in.weight"])
    assert loaded.config.prediction_type == "sample" and attention_heads(loaded.unet) == {8}
    assert model.card.source["sha256"][str(tmp_path / "ldm.ckpt")] == sha256(tmp_path / "ldm.ckpt")
    assert model.card.source["sha256"][str(tmp_path / "kl-f8.ckpt")] == sha256(tmp_path / "kl-f8.ckpt")
    assert any("loss" in note for note in model.card.notes)
    # without --vae the LDM checkpoint's own first stage is used
    again = import_compvis(None, tmp_path / "ldm.ckpt", tmp_path / "model2", unet_config=scaled_config("unet"),
                           vae_config=scaled_config("vae"))
    torch.testing.assert_close(again.mask_autoencoder.decoder.conv_out.weight, vae_state["decoder.conv_out.weight"])


def test_checkpoints_needing_arbitrary_unpickling_are_refused(tmp_path, capsys):
    torch.save({"state_dict": {"a": torch.zeros(1)}, "hyper_parameters": RunsCode()}, tmp_path / "evil.ckpt")
    with pytest.raises(ModelLoadError, match="refusing to load.*arbitrary code"):
        load_pickled_weights(tmp_path / "evil.ckpt")
    assert main(["import-weights", "--from", "compvis", "--vae", str(tmp_path / "evil.ckpt"),
                 "--unet", str(tmp_path / "evil.ckpt"), "--out", str(tmp_path / "m")]) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert main(["import-weights", "--from", "compvis", "--out", str(tmp_path / "m")]) == 2
    assert "--unet" in capsys.readouterr().err
