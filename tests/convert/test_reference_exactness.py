"""An imported reference model gives the authors' masks, pixel for pixel.

The authors' inference (Pearisli/LEAF, leaf/pipeline.py and infer.py) is re-implemented here in
plain steps from their code, with diffusers' DDIMScheduler built from their scheduler_config.json
(clip_sample: their x0 is clamp(output, -1, 1)). It runs on the converted networks; the networks'
conversion is checked block by block in test_blocks.py. The weights are O(1)-scale random
(convolutions randn / sqrt(fan_in), norms 1 + 0.1 randn): at 0.02 scale every output is near 0
and no clamp ever acts, which is how a dropped clip_sample went unseen.
"""

import json

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from PIL import Image
from reference_fakes import write_reference_folder

from leaf_core.convert import import_reference
from leaf_core.inference import Predictor
from leaf_core.inference.preprocessing import image_key, resize_rgb
from leaf_core.inference.sampling import noise_seed
from leaf_core.model import LeafModel


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exactness")
    write_reference_folder(folder / "ref", seed=3)
    import_reference(folder / "ref", folder / "model")
    scheduler_config = json.loads((folder / "ref" / "scheduler" / "scheduler_config.json").read_text())
    return LeafModel.from_pretrained(folder / "model"), scheduler_config


def test_the_scheduler_settings_come_along(imported):
    model, scheduler_config = imported
    schedule = model.config.schedule
    assert (schedule.clip_sample, schedule.clip_sample_range, schedule.timestep_spacing, schedule.set_alpha_to_one) == (
        scheduler_config["clip_sample"], scheduler_config["clip_sample_range"], scheduler_config["timestep_spacing"],
        scheduler_config["set_alpha_to_one"]) == (True, 1.0, "leading", True)


def authors_inference(model: LeafModel, scheduler_config: dict, rgb: np.ndarray, noise: torch.Tensor,
                      steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(decoded logits (3, R, R), mask (R, R), unclamped x0 of the last step) as the authors compute them."""
    resolution = model.config.resolution
    pixels = np.asarray(Image.fromarray(rgb).resize((resolution, resolution), Image.Resampling.BILINEAR), np.float32)
    rgb_norm = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)[None] * 2.0 - 1.0  # ToTensor, then * 2 - 1
    scale = 0.18215
    scheduler = DDIMScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(steps)
    timesteps = [scheduler.config.num_train_timesteps - 1] if steps == 1 else scheduler.timesteps
    rgb_latent = model.image_encoder(rgb_norm)  # their latent_encoder(...).mode() * 0.18215
    mask_latent = noise
    for t in timesteps:
        model_pred = model.unet(torch.cat([rgb_latent, mask_latent], dim=1), torch.tensor([int(t)])).sample
        unclamped = model_pred  # prediction_type "sample": x0 is the output, before the scheduler's clamp
        step = scheduler.step(model_pred, int(t), mask_latent)
        mask_latent = step.pred_original_sample if steps == 1 else step.prev_sample
    logits = model.mask_autoencoder.decode(mask_latent / scale).sample[0]
    mask = (torch.clamp(logits, -1.0, 1.0) + 1.0) / 2.0
    return logits, mask.mean(dim=0) > 0.5, unclamped


@pytest.mark.parametrize("steps", [1, 4])
def test_masks_and_logits_equal_the_authors(imported, steps):
    model, scheduler_config = imported
    predictor = Predictor(model, device="cpu", precision="fp32")
    decoded = {}
    hook = model.mask_autoencoder.decoder.register_forward_hook(lambda m, i, out: decoded.__setitem__("logits", out))
    rng = np.random.default_rng(5)
    try:
        for height, width in ((300, 280), (700, 900)):
            rgb = np.clip(rng.normal(128, 60, (height, width, 3)), 0, 255).astype(np.uint8)
            predictor.set_image(rgb)
            probability = predictor.probabilities([0], steps)[0]
            ours_logits = decoded["logits"][0]
            seed = noise_seed(0, image_key(resize_rgb(rgb, model.config.resolution)))
            noise = torch.randn((1, 4, model.latent_size, model.latent_size), generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                logits, mask, unclamped = authors_inference(model, scheduler_config, rgb, noise, steps)
            assert unclamped.abs().max() > 1.5, "the clamp must act for this test to mean anything"
            assert (ours_logits - logits).abs().max() < 1e-4
            np.testing.assert_array_equal((probability > model.config.threshold).numpy(), mask.numpy())
    finally:
        hook.remove()
