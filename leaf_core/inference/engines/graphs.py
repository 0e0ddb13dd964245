"""The three graphs an inference engine runs, and their export to ONNX (torch.onnx, dynamo exporter).

A prediction is image encoder -> U-Net (once, or once per DDIM step) -> mask decoder. Each part is
exported on its own, with a dynamic batch dimension, so an engine runs the same sampler code as
torch (leaf_core.inference.sampling) and batches images and ensemble seeds as torch does:

    image_encoder   images (N, 3, R, R) float32 in [-1, 1]    -> image latents (N, C, R/8, R/8)
    unet            sample (N, 2C, R/8, R/8), timesteps (N,) int64 -> the U-Net's output (N, C, R/8, R/8)
    mask_decoder    mask latents (N, C, R/8, R/8)             -> foreground probability (N, R, R)

The exporter is torch.export (strict=False) plus onnxscript: it captures diffusers' UNet2DModel,
AutoencoderTiny and AutoencoderKL (scaled-dot-product attention, group norms) as they run, and
OpenVINO reads the ONNX files. The example batch is 2: torch.export specialises a size of 1.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from leaf_core.model.leaf_model import LeafModel

GRAPH_NAMES = ("image_encoder", "unet", "mask_decoder")
OPSET = 18  # GroupNormalization-free decomposition, supported by OpenVINO and ONNX Runtime alike
MAX_BATCH = 32  # diffusers' upsampling switches code paths at 64 images; a batch past 32 gains nothing


class ImageEncoderGraph(nn.Module):
    def __init__(self, model: LeafModel) -> None:
        super().__init__()
        self.image_encoder = model.image_encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(images)


class UNetGraph(nn.Module):
    def __init__(self, model: LeafModel) -> None:
        super().__init__()
        self.unet = model.unet

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timesteps).sample


class MaskDecoderGraph(nn.Module):
    def __init__(self, model: LeafModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, mask_latents: torch.Tensor) -> torch.Tensor:
        return self.model.decode_probability(mask_latents)


@dataclass
class GraphSpec:
    """One exportable part: its module, example inputs (batch 2) and input names."""

    module: nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]


def graph_specs(model: LeafModel) -> dict[str, GraphSpec]:
    """The three parts of ``model`` (on the CPU, float32), keyed by GRAPH_NAMES."""
    resolution, latent, channels = model.config.resolution, model.latent_size, model.latent_channels
    last = model.scheduler.config.num_train_timesteps - 1
    return {
        "image_encoder": GraphSpec(ImageEncoderGraph(model), (torch.zeros(2, 3, resolution, resolution),),
                                   ("images",)),
        "unet": GraphSpec(UNetGraph(model), (torch.zeros(2, 2 * channels, latent, latent),
                                             torch.full((2,), last, dtype=torch.long)), ("sample", "timesteps")),
        "mask_decoder": GraphSpec(MaskDecoderGraph(model), (torch.zeros(2, channels, latent, latent),),
                                  ("mask_latents",)),
    }


def export_onnx(model: LeafModel, folder: Path) -> dict[str, Path]:
    """Write ``<name>.onnx`` (weights in ``<name>.onnx.data``) for each graph into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    with quiet_tools(), torch.inference_mode(False), torch.no_grad():
        for name, spec in graph_specs(model).items():
            batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
            parameters = list(inspect.signature(spec.module.forward).parameters)
            paths[name] = folder / f"{name}.onnx"
            torch.onnx.export(
                spec.module.eval(), spec.example_inputs, str(paths[name]), dynamo=True, external_data=True,
                input_names=list(spec.input_names), output_names=["output"], opset_version=OPSET,
                dynamic_shapes={parameter: {0: batch} for parameter in parameters}, verbose=False,
            )
    return paths


@contextlib.contextmanager
def quiet_tools():
    """The exporter and NNCF print progress bars and log every pass they run: keep the command
    line's output and the app's log to what matters (errors still come through)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._export", "torch.export", "onnxscript",
                                                     "onnx_ir", "nncf")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
