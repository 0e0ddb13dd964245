"""The object the app and the command line talk to: set an image once, predict as often as needed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from leaf_core.inference.precision import as_channels_last, autocast, resolve_precision, use_channels_last
from leaf_core.inference.sampling import initial_noise, noise_seed, sample_mask_latents
from leaf_core.model.leaf_model import LeafModel


@dataclass
class Prediction:
    """probability: HxW float32 in [0, 1] at the image's size; mask: HxW bool."""

    probability: np.ndarray
    mask: np.ndarray


@dataclass
class EnsemblePrediction:
    """mean: HxW float32 mean probability over seeds; uncertainty: HxW float32 in [0, 1]
    (the per-pixel standard deviation of the seeds' probabilities, times 2); mask: mean >= threshold."""

    mean: np.ndarray
    uncertainty: np.ndarray
    mask: np.ndarray


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def image_to_model_input(rgb: np.ndarray, resolution: int) -> torch.Tensor:
    """HxWx3 uint8 RGB to a (3, R, R) float tensor in [-1, 1] (resized in uint8, so huge images stay cheap)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    resized = np.array(Image.fromarray(rgb).resize((resolution, resolution), Image.Resampling.BILINEAR, reducing_gap=2.0))
    return torch.from_numpy(resized).permute(2, 0, 1).float().div(127.5).sub(1.0)


def probability_to_size(probability: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(R, R) probability resized to (height, width), float32 numpy."""
    resized = F.interpolate(probability[None, None].float(), size=(height, width), mode="bilinear", align_corners=False)
    return resized[0, 0].clamp(0.0, 1.0).cpu().numpy()


class Predictor:
    """Runs a LeafModel on one image at a time (the image latent is computed once per image).

    precision: "auto" (default: bf16 where the hardware runs it natively, about 2x faster with the
    same Dice in our measurements, else fp32), "fp32" (exact) or "bf16". The model's weights are put in channels-last
    layout (faster convolutions; values unchanged).
    """

    def __init__(self, model: LeafModel, device: str | torch.device | None = None, precision: str = "auto") -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.precision = resolve_precision(precision, self.device)
        self.model = use_channels_last(model.to(self.device).eval())
        self._image_latent: torch.Tensor | None = None
        self._size: tuple[int, int] | None = None

    @torch.inference_mode()
    def set_image(self, rgb: np.ndarray) -> None:
        """rgb: HxWx3 uint8 RGB, any size. Encodes it once for all later predictions."""
        batch = as_channels_last(image_to_model_input(rgb, self.model.config.resolution)[None].to(self.device))
        with autocast(self.precision, self.device):
            self._image_latent = self.model.image_encoder(batch).float()
        self._size = (rgb.shape[0], rgb.shape[1])

    def _require_image(self) -> tuple[torch.Tensor, tuple[int, int]]:
        if self._image_latent is None or self._size is None:
            raise RuntimeError("call set_image(rgb) before predict()")
        return self._image_latent, self._size

    @torch.inference_mode()
    def probabilities(self, seeds: list[int], steps: int = 1) -> torch.Tensor:
        """(K, R, R) probabilities at the model's resolution, one per seed, in one batch."""
        image_latent, _ = self._require_image()
        noise = initial_noise(self.model, seeds, self.device, image_latent.dtype)
        with autocast(self.precision, self.device):
            latents = sample_mask_latents(self.model, image_latent.expand(len(seeds), -1, -1, -1), noise, steps)
            return self.model.decode_probability(latents).float()

    def predict(self, seed: int = 0, steps: int = 1) -> Prediction:
        """The mask of the current image for one noise seed."""
        _, (height, width) = self._require_image()
        probability = probability_to_size(self.probabilities([seed], steps)[0], height, width)
        return Prediction(probability, probability >= self.model.config.threshold)

    def predict_ensemble(self, k: int = 5, steps: int = 1, base_seed: int = 0) -> EnsemblePrediction:
        """Mean mask and per-pixel uncertainty over ``k`` seeds."""
        if k < 1:
            raise ValueError(f"an ensemble needs at least one seed, got {k}")
        _, (height, width) = self._require_image()
        probabilities = self.probabilities([noise_seed(base_seed, f"ensemble{i}") for i in range(k)], steps)
        mean = probability_to_size(probabilities.mean(dim=0), height, width)
        uncertainty = probability_to_size((probabilities.std(dim=0, unbiased=False) * 2.0), height, width)
        return EnsemblePrediction(mean, uncertainty, mean >= self.model.config.threshold)
