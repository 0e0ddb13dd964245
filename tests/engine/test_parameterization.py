"""The noise schedule and Eq. 3 pinned to diffusers' DDIMScheduler (an independent implementation):
a sign flipped anywhere, or a_t and s_t swapped, fails here."""

import pytest
import torch
from diffusers import DDIMScheduler

from leaf_core.model.parameterization import (
    PREDICTION_TYPES, NoiseScheduleConfig, add_noise, clean_latent_from_output, clip_clean_latent, make_scheduler,
    signal_and_noise_scales, training_target,
)

TIMESTEPS = [0, 1, 137, 500, 998, 999]  # 999 = T-1, the single inference step


def reference_scheduler(prediction_type: str, **settings) -> DDIMScheduler:
    """diffusers' own scheduler for the paper's schedule, built here without our code."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0015, beta_end=0.0155,
                         prediction_type=prediction_type, **settings)


def random_latents(seed: int, count: int) -> torch.Tensor:
    return torch.randn(count, 4, 8, 8, generator=torch.Generator().manual_seed(seed)) * 1.5


def test_add_noise_equals_diffusers():
    scheduler = make_scheduler(NoiseScheduleConfig(), "sample")
    clean, noise = random_latents(0, len(TIMESTEPS)), random_latents(1, len(TIMESTEPS))
    timesteps = torch.tensor(TIMESTEPS)
    a_t, s_t = signal_and_noise_scales(scheduler, timesteps)
    expected = reference_scheduler("sample").add_noise(clean, noise, timesteps)
    torch.testing.assert_close(add_noise(clean, noise, a_t, s_t), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_training_targets_equal_diffusers(prediction_type):
    scheduler = make_scheduler(NoiseScheduleConfig(), prediction_type)
    clean, noise = random_latents(2, len(TIMESTEPS)), random_latents(3, len(TIMESTEPS))
    timesteps = torch.tensor(TIMESTEPS)
    a_t, s_t = signal_and_noise_scales(scheduler, timesteps)
    expected = {"epsilon": noise, "sample": clean,
                "v_prediction": reference_scheduler(prediction_type).get_velocity(clean, noise, timesteps)}
    torch.testing.assert_close(training_target(prediction_type, clean, noise, a_t, s_t), expected[prediction_type],
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("clip_sample", [False, True])
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_clean_latent_equals_ddim_steps_pred_original_sample(prediction_type, clip_sample):
    schedule = NoiseScheduleConfig(clip_sample=clip_sample, clip_sample_range=1.0)
    scheduler = make_scheduler(schedule, prediction_type)
    reference = reference_scheduler(prediction_type, clip_sample=clip_sample, clip_sample_range=1.0)
    reference.set_timesteps(1000)
    for i, t in enumerate(TIMESTEPS):
        output, noisy = random_latents(10 + i, 1), random_latents(20 + i, 1)
        a_t, s_t = signal_and_noise_scales(scheduler, torch.tensor([t]))
        ours = clip_clean_latent(schedule, clean_latent_from_output(prediction_type, output, noisy, a_t, s_t))
        expected = reference.step(output, t, noisy).pred_original_sample
        # eps-prediction divides by a_t (0.014 at T-1), so its values reach ~300: compare relative to them
        torch.testing.assert_close(ours, expected, rtol=2e-5, atol=1e-5, msg=f"t={t}")
        if clip_sample:
            assert ours.abs().max() <= 1.0 and (ours.abs() == 1.0).any()  # the clamp acted


def test_our_scheduler_is_diffusers_with_the_config_settings():
    schedule = NoiseScheduleConfig(clip_sample=True, clip_sample_range=2.5, timestep_spacing="leading",
                                   set_alpha_to_one=True, steps_offset=1)
    config = make_scheduler(schedule, "v_prediction").config
    assert (config.clip_sample, config.clip_sample_range, config.timestep_spacing, config.set_alpha_to_one,
            config.steps_offset, config.prediction_type) == (True, 2.5, "leading", True, 1, "v_prediction")
    default = make_scheduler(NoiseScheduleConfig(), "sample").config  # what model folders without these keys get
    assert (default.clip_sample, default.timestep_spacing, default.set_alpha_to_one) == (False, "trailing", False)


def test_eps_amplifies_errors_at_t_max_while_x0_does_not():
    """The paper's argument for x0: at t = T, s_t / a_t is large."""
    scheduler = make_scheduler(NoiseScheduleConfig(), "epsilon")
    t = torch.tensor([999])
    a_t, s_t = signal_and_noise_scales(scheduler, t)
    error = torch.full((1, 4, 2, 2), 0.01)
    noisy = torch.zeros(1, 4, 2, 2)
    eps_error = clean_latent_from_output("epsilon", error, noisy, a_t, s_t).abs().max()
    x0_error = clean_latent_from_output("sample", error, noisy, a_t, s_t).abs().max()
    assert float(s_t / a_t) > 5
    assert eps_error > 5 * x0_error


def test_schedules_differ_and_are_variance_preserving():
    linear = make_scheduler(NoiseScheduleConfig(beta_schedule="linear", beta_start=0.0001, beta_end=0.02), "sample")
    scaled = make_scheduler(NoiseScheduleConfig(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02), "sample")
    assert not torch.allclose(linear.alphas_cumprod, scaled.alphas_cumprod)
    a_t, s_t = signal_and_noise_scales(linear, torch.arange(0, 1000, 100))
    torch.testing.assert_close(a_t**2 + s_t**2, torch.ones_like(a_t))
    assert linear.config.num_train_timesteps == 1000


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="prediction_type"):
        training_target("score", torch.zeros(1), torch.zeros(1), torch.ones(1), torch.zeros(1))
    with pytest.raises(ValueError, match="beta_schedule"):
        NoiseScheduleConfig(beta_schedule="cosine")
    with pytest.raises(ValueError, match="beta_start"):
        NoiseScheduleConfig(beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match="timestep_spacing"):
        NoiseScheduleConfig(timestep_spacing="random")
