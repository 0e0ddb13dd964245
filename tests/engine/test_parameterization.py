import pytest
import torch

from leaf_core.model.parameterization import (
    PREDICTION_TYPES, NoiseScheduleConfig, add_noise, clean_latent_from_output, make_scheduler,
    signal_and_noise_scales, training_target,
)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_perfect_output_recovers_the_clean_latent(prediction_type):
    scheduler = make_scheduler(NoiseScheduleConfig(), prediction_type)
    clean = torch.randn(3, 4, 8, 8)
    noise = torch.randn(3, 4, 8, 8)
    timesteps = torch.tensor([0, 500, 999])
    a_t, s_t = signal_and_noise_scales(scheduler, timesteps)
    noisy = add_noise(clean, noise, a_t, s_t)
    target = training_target(prediction_type, clean, noise, a_t, s_t)
    recovered = clean_latent_from_output(prediction_type, target, noisy, a_t, s_t)
    torch.testing.assert_close(recovered, clean, atol=2e-3, rtol=1e-3)


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
