"""Noise schedule and the three parameterizations (the paper's Eq. 3), in one place.

Variance preserving: z_t = a_t * z + s_t * eps with a_t = sqrt(alpha_bar_t), s_t = sqrt(1 - alpha_bar_t).
The formulas are diffusers' DDIMScheduler's (add_noise, get_velocity, step's pred_original_sample),
pinned to it by tests/engine/test_parameterization.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
DEFAULT_PREDICTION_TYPE = "sample"  # LEAF's x0-prediction
BETA_SCHEDULES = ("linear", "scaled_linear")
TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")


@dataclass(frozen=True)
class NoiseScheduleConfig:
    """The DDIM scheduler of a model: 1000-step schedule, and how clean-latent estimates are formed.

    diffusers' "scaled_linear" is what the CompVis code calls "linear". The last four fields are
    diffusers' DDIMScheduler settings of the same names. Ours: no clamp, "trailing" spacing (N-step
    DDIM starts at t = T - 1, the single step's timestep). The authors' models: ``clip_sample``
    (their x0 is clamp(output, -1, 1)), "leading" spacing, ``set_alpha_to_one``; an imported model
    keeps them (convert/reference.py), so it gives the authors' masks.
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 0.0015
    beta_end: float = 0.0155
    clip_sample: bool = False
    clip_sample_range: float = 1.0
    timestep_spacing: str = "trailing"
    set_alpha_to_one: bool = False
    steps_offset: int = 0

    def __post_init__(self) -> None:
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"unknown beta_schedule {self.beta_schedule!r}; expected one of {BETA_SCHEDULES}")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if self.timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(f"unknown timestep_spacing {self.timestep_spacing!r}; expected one of {TIMESTEP_SPACINGS}")
        if self.clip_sample_range <= 0:
            raise ValueError(f"clip_sample_range must be positive, got {self.clip_sample_range}")


def make_scheduler(schedule: NoiseScheduleConfig, prediction_type: str) -> DDIMScheduler:
    """diffusers' DDIM scheduler for this schedule and parameterization."""
    check_prediction_type(prediction_type)
    return DDIMScheduler(
        num_train_timesteps=schedule.num_train_timesteps,
        beta_schedule=schedule.beta_schedule,
        beta_start=schedule.beta_start,
        beta_end=schedule.beta_end,
        prediction_type=prediction_type,
        timestep_spacing=schedule.timestep_spacing,
        clip_sample=schedule.clip_sample,
        clip_sample_range=schedule.clip_sample_range,
        set_alpha_to_one=schedule.set_alpha_to_one,
        steps_offset=schedule.steps_offset,
    )


def check_prediction_type(prediction_type: str) -> None:
    """Raise ValueError for a parameterization other than PREDICTION_TYPES."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; expected one of {PREDICTION_TYPES}")


def signal_and_noise_scales(scheduler: DDIMScheduler, timesteps: torch.Tensor, ndim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_t, s_t) for integer timesteps, shaped to broadcast over (B, C, H, W)."""
    alpha_bar = scheduler.alphas_cumprod.to(timesteps.device)[timesteps].float()
    shape = (-1,) + (1,) * (ndim - 1)
    return alpha_bar.sqrt().reshape(shape), (1.0 - alpha_bar).sqrt().reshape(shape)


def add_noise(clean: torch.Tensor, noise: torch.Tensor, a_t: torch.Tensor, s_t: torch.Tensor) -> torch.Tensor:
    """z_t = a_t * z + s_t * eps."""
    return a_t * clean + s_t * noise


def training_target(prediction_type: str, clean: torch.Tensor, noise: torch.Tensor,
                    a_t: torch.Tensor, s_t: torch.Tensor) -> torch.Tensor:
    """What the U-Net learns to output under each parameterization."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return a_t * noise - s_t * clean
    if prediction_type == "sample":
        return clean
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def clean_latent_from_output(prediction_type: str, output: torch.Tensor, noisy: torch.Tensor,
                             a_t: torch.Tensor, s_t: torch.Tensor) -> torch.Tensor:
    """z_hat recovered from the U-Net's output (Eq. 3), before any clamp (see clip_clean_latent)."""
    if prediction_type == "epsilon":
        return (noisy - s_t * output) / a_t
    if prediction_type == "v_prediction":
        return a_t * noisy - s_t * output
    if prediction_type == "sample":
        return output
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def clip_clean_latent(schedule: NoiseScheduleConfig, clean: torch.Tensor) -> torch.Tensor:
    """The clean-latent estimate clamped to +-clip_sample_range when the schedule says so (as DDIM's step does)."""
    if schedule.clip_sample:
        return clean.clamp(-schedule.clip_sample_range, schedule.clip_sample_range)
    return clean
