"""Expected outputs of a tiny seeded model (diffusers style: slices against stored numbers).

Any change to what a prediction computes (preprocessing, per-image noise, parameterization,
schedule, sampler, decoder, ensemble statistics) moves these numbers; a change meant to do so
regenerates them, and its commit says why. Weights are O(1)-scale (testing.randomize_weights) so
the numbers spread; fp32 on the torch engine, so only float rounding (~1e-6) separates machines.
"""

import numpy as np
import pytest
import torch

from leaf_core.inference import Predictor
from leaf_core.testing import build_tiny_model, randomize_weights

ATOL = 1e-4

# decoded logits (before the clamp): channel 0, row 32, every 8th column; channel 2, column 17, every 8th row
EXPECTED_LOGITS = {
    1: ([-0.73868, -0.84552, -0.74315, -1.29288, -0.70389, -1.01172, -1.00814, -1.28926],
        [-0.95041, -1.01443, -0.82113, -0.95862, -1.03797, -1.1729, -0.99081, -1.18868]),
    4: ([-0.75771, -0.93165, -0.88122, -1.34062, -0.98915, -1.1652, -0.96767, -1.05297],
        [-0.95256, -1.00352, -0.9902, -1.11354, -0.9783, -1.17498, -1.16825, -1.28595]),
}
# ensemble of 3: mean at row 45, every 10th column; uncertainty at column 35, every 15th row (image size)
EXPECTED_MEAN = [0.04643, 0.01438, 0.03011, 0.01622, 0.00017, 0.02112, 0.00936]
EXPECTED_UNCERTAINTY = [0.00614, 0.03792, 0.044, 0.00979, 0.02579, 0.00837]


@pytest.fixture(scope="module")
def predictor():
    model = randomize_weights(build_tiny_model(seed=11), seed=12)
    predictor = Predictor(model, device="cpu", precision="fp32", engine="torch")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:90, :70]
    rgb = np.stack([128 + 90 * np.sin(xx / 9), 128 + 90 * np.cos(yy / 7), rng.normal(128, 40, (90, 70))], -1)
    predictor.set_image(np.clip(rgb, 0, 255).astype(np.uint8))
    return predictor


@pytest.mark.parametrize("steps", [1, 4], ids=["single-step", "ddim-4"])
def test_decoded_logits(predictor, steps):
    decoded = {}
    hook = predictor.model.mask_autoencoder.decoder.register_forward_hook(
        lambda module, inputs, output: decoded.__setitem__("logits", output))
    try:
        predictor.probabilities([0], steps)
    finally:
        hook.remove()
    logits = decoded["logits"][0]
    row, column = EXPECTED_LOGITS[steps]
    torch.testing.assert_close(logits[0, 32, ::8], torch.tensor(row), rtol=0, atol=ATOL)
    torch.testing.assert_close(logits[2, ::8, 17], torch.tensor(column), rtol=0, atol=ATOL)


def test_ensemble_mean_and_uncertainty(predictor):
    ensemble = predictor.predict_ensemble(k=3)
    np.testing.assert_allclose(ensemble.mean[45, ::10], EXPECTED_MEAN, rtol=0, atol=ATOL)
    np.testing.assert_allclose(ensemble.uncertainty[::15, 35], EXPECTED_UNCERTAINTY, rtol=0, atol=ATOL)
