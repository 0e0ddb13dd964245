"""The object the app and the command line talk to: set an image once, predict as often as needed.

`leaf evaluate` and validation in training go through the same Predictor, so a model card's
val Dice is what the app computes: same preprocessing, precision default and noise per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from leaf_core.inference.engines.backend import Backend, TorchBackend, backend_label
from leaf_core.inference.engines.selection import DEFAULT_ENGINE, make_backend
from leaf_core.inference.precision import DEFAULT_PRECISION, use_channels_last
from leaf_core.inference.preprocessing import (
    image_key, image_to_model_input, probability_to_mask, probability_to_size, resize_rgb, uint8_to_signed,
)
from leaf_core.inference.sampling import SINGLE_STEP, initial_noise, noise_seed, sample_mask_latents
from leaf_core.model.leaf_model import LeafModel


@dataclass
class Prediction:
    """probability: HxW float32 in [0, 1] at the image's size; mask: HxW bool (probability > threshold)."""

    probability: np.ndarray
    mask: np.ndarray


@dataclass
class EnsemblePrediction:
    """mean: HxW float32 mean probability over seeds; uncertainty: HxW float32 in [0, 1]
    (the per-pixel standard deviation of the seeds' probabilities, times 2); mask: mean > threshold."""

    mean: np.ndarray
    uncertainty: np.ndarray
    mask: np.ndarray


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def encode_images(model: LeafModel, rgbs: list[np.ndarray], precision: str = DEFAULT_PRECISION,
                  backend: Backend | None = None) -> torch.Tensor:
    """Image latents (N, C, h, w) float32 of HxWx3 uint8 images, in one batch (torch unless ``backend``)."""
    backend = backend or TorchBackend(model, precision)
    return backend.encode(torch.stack([image_to_model_input(rgb, model.config.resolution) for rgb in rgbs]))


@torch.inference_mode()
def decode_masks(model: LeafModel, image_latents: torch.Tensor, noise_seeds: list[int], steps: int = SINGLE_STEP,
                 precision: str = DEFAULT_PRECISION, backend: Backend | None = None) -> torch.Tensor:
    """(N, R, R) float32 probabilities at the model's resolution, one per image latent and noise seed."""
    backend = backend or TorchBackend(model, precision)
    noise = initial_noise(model, noise_seeds, model.device, torch.float32)
    return backend.decode(sample_mask_latents(model, image_latents, noise, steps, backend.unet))


def ensemble_seeds(base_seed: int, k: int) -> list[int]:
    """The seeds of a k-member ensemble."""
    return [noise_seed(base_seed, f"ensemble{i}") for i in range(k)]


class Predictor:
    """Runs a LeafModel on one image at a time (the image latent is computed once per image).

    precision: "auto" (default: int8 where `leaf quantize` accepted it for this model, else bf16
    where the hardware runs it natively, about 2x faster with the same Dice in our measurements,
    else fp32), "fp32" (exact), "bf16" or "int8". engine: "auto" (default: OpenVINO when it is
    installed, the model came from ``model_dir`` and runs on the CPU, and OpenVINO is faster
    here; else torch), "torch" or "openvino" (engines/selection.py). ``engine_label`` says which
    runs, e.g. "OpenVINO int8"; a given ``backend`` is used as it is. The model's weights are put
    in channels-last layout (faster convolutions, values unchanged; validation inside training
    puts them back after).
    Each image's noise comes from the seed and the image's pixels (``image_key``): no two images
    share their noise, and an image gets the same noise wherever it is predicted.
    """

    def __init__(self, model: LeafModel, device: str | torch.device | None = None, precision: str = DEFAULT_PRECISION,
                 engine: str = DEFAULT_ENGINE, model_dir: str | Path | None = None,
                 backend: Backend | None = None) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.model = use_channels_last(model.to(self.device).eval())
        self.backend = backend or make_backend(self.model, engine, precision, model_dir)
        self.precision = self.backend.precision
        self.engine_label = backend_label(self.backend)
        self._image_latent: torch.Tensor | None = None
        self._image_key = ""
        self._size: tuple[int, int] | None = None

    def _model_input(self, rgb: np.ndarray) -> tuple[torch.Tensor, str]:
        """(3, R, R) model input in [-1, 1] and the image's noise key."""
        resized = resize_rgb(rgb, self.model.config.resolution)
        return uint8_to_signed(torch.from_numpy(resized).permute(2, 0, 1)), image_key(resized)

    def set_image(self, rgb: np.ndarray) -> None:
        """rgb: HxWx3 uint8 RGB, any size. Encodes it once for all later predictions."""
        model_input, self._image_key = self._model_input(rgb)
        self._image_latent = self.backend.encode(model_input[None])
        self._size = (rgb.shape[0], rgb.shape[1])

    def predict_batch(self, rgbs: list[np.ndarray], seed: int = 0, steps: int = SINGLE_STEP) -> list[Prediction]:
        """The masks of several images in one batch (the throughput path of `leaf predict`): the same
        masks as set_image + predict on each. Leaves the current image as it was."""
        inputs = [self._model_input(rgb) for rgb in rgbs]
        latents = self.backend.encode(torch.stack([model_input for model_input, _ in inputs]))
        noise_seeds = [noise_seed(seed, key) for _, key in inputs]
        probabilities = decode_masks(self.model, latents, noise_seeds, steps, backend=self.backend)
        predictions = []
        for rgb, probability in zip(rgbs, probabilities):
            resized = probability_to_size(probability, rgb.shape[0], rgb.shape[1])
            predictions.append(Prediction(resized, probability_to_mask(resized, self.model.config.threshold)))
        return predictions

    def _require_image(self) -> tuple[torch.Tensor, tuple[int, int]]:
        if self._image_latent is None or self._size is None:
            raise RuntimeError("call set_image(rgb) before predict()")
        return self._image_latent, self._size

    @torch.inference_mode()
    def probabilities(self, seeds: list[int], steps: int = SINGLE_STEP) -> torch.Tensor:
        """(K, R, R) probabilities at the model's resolution, one per seed, in one batch."""
        image_latent, _ = self._require_image()
        noise_seeds = [noise_seed(seed, self._image_key) for seed in seeds]
        return decode_masks(self.model, image_latent.expand(len(seeds), -1, -1, -1), noise_seeds, steps,
                            backend=self.backend)

    def predict(self, seed: int = 0, steps: int = SINGLE_STEP) -> Prediction:
        """The mask of the current image for one noise seed."""
        _, (height, width) = self._require_image()
        probability = probability_to_size(self.probabilities([seed], steps)[0], height, width)
        return Prediction(probability, probability_to_mask(probability, self.model.config.threshold))

    def predict_ensemble(self, k: int = 5, steps: int = SINGLE_STEP, base_seed: int = 0) -> EnsemblePrediction:
        """Mean mask and per-pixel uncertainty over ``k`` seeds."""
        if k < 1:
            raise ValueError(f"an ensemble needs at least one seed, got {k}")
        _, (height, width) = self._require_image()
        probabilities = self.probabilities(ensemble_seeds(base_seed, k), steps)
        mean = probability_to_size(probabilities.mean(dim=0), height, width)
        uncertainty = probability_to_size((probabilities.std(dim=0, unbiased=False) * 2.0), height, width)
        return EnsemblePrediction(mean, uncertainty, probability_to_mask(mean, self.model.config.threshold))
