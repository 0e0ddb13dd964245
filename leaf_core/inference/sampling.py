"""From image latents to mask latents: one reverse step at t = T (LEAF), or N-step DDIM.

Both apply the model's scheduler settings (leaf_config.json ``schedule``): the clean-latent
estimate is clamped when ``clip_sample`` is set, as diffusers' DDIM step does, and DDIM visits
the timesteps its ``timestep_spacing`` gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch
from diffusers import DDIMScheduler

from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.parameterization import clean_latent_from_output, clip_clean_latent, signal_and_noise_scales

SINGLE_STEP = 1  # the default everywhere: LEAF's one reverse step

# (sample (N, 2C, h, w), timesteps (N,) or a scalar) -> the U-Net's output (N, C, h, w) float32;
# None means the model's own U-Net (an inference engine passes its compiled one).
UNetCall = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def model_unet(model: LeafModel) -> UNetCall:
    return lambda sample, timesteps: model.unet(sample, timesteps).sample.float()


def noise_seed(seed: int, key: str = "") -> int:
    """A stable seed for (seed, key): an image's key mixed in, so that no two images share their noise."""
    if not key:
        return seed
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def initial_noise(model: LeafModel, seeds: list[int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """z_T ~ N(0, I), one independent draw per seed, drawn on the CPU so every device agrees."""
    shape = (model.latent_channels, model.latent_size, model.latent_size)
    draws = [torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(draws).to(device=device, dtype=dtype)


def denoise_single_step(model: LeafModel, image_latents: torch.Tensor, noise: torch.Tensor,
                        unet: UNetCall | None = None) -> torch.Tensor:
    """The LEAF inference: one U-Net call at t = T - 1, straight to the clean mask latent."""
    unet = unet or model_unet(model)
    last = model.scheduler.config.num_train_timesteps - 1
    timesteps = torch.full((noise.shape[0],), last, device=noise.device, dtype=torch.long)
    # The conversion to z_hat runs in float32 even under bf16 autocast: eps-prediction divides by a_T.
    output = unet(torch.cat([image_latents, noise], dim=1), timesteps)
    a_t, s_t = signal_and_noise_scales(model.scheduler, timesteps)
    clean = clean_latent_from_output(model.config.prediction_type, output, noise.float(), a_t, s_t)
    return clip_clean_latent(model.config.schedule, clean)


def denoise_ddim(model: LeafModel, image_latents: torch.Tensor, noise: torch.Tensor, steps: int,
                 unet: UNetCall | None = None) -> torch.Tensor:
    """N-step DDIM (eta = 0); returns the last step's clean-latent estimate."""
    unet = unet or model_unet(model)
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(steps, device=noise.device)
    latents = noise.float()
    clean = latents
    for t in scheduler.timesteps:
        output = unet(torch.cat([image_latents, latents], dim=1), t)
        step = scheduler.step(output, t, latents)
        latents, clean = step.prev_sample, step.pred_original_sample
    return clean


def sample_mask_latents(model: LeafModel, image_latents: torch.Tensor, noise: torch.Tensor,
                        steps: int = SINGLE_STEP, unet: UNetCall | None = None) -> torch.Tensor:
    """Mask latents for each image latent and its noise; ``steps`` = 1 is the single LEAF step."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if steps == SINGLE_STEP:
        return denoise_single_step(model, image_latents, noise, unet)
    return denoise_ddim(model, image_latents, noise, steps, unet)
