"""Inference precision and memory layout: the settings that make the common path fast.

``precision`` is "fp32" (exact) or "bf16" (autocast: convolutions and matmuls in
bfloat16, everything else in float32; about 2x faster on CPUs with native bf16, e.g. AVX512-BF16 or
AMX, and on recent GPUs). "auto" (the default) picks bf16 where the hardware runs it natively, else fp32.
Masks are thresholded probabilities, so bf16's ~3 significant digits change few pixels: see
benchmarks/README.md for the measured Dice difference.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "auto")
DEFAULT_PRECISION = "auto"  # the Predictor's, evaluation's and `leaf predict`/`leaf evaluate`'s


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 convolutions natively (not emulated, which would be slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """"fp32" or "bf16" for a requested precision on a device."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision ("fp32" turns autocast off)."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def use_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Channels-last weights: oneDNN (CPU) and cuDNN run 2D convolutions faster without reorders.
    Only the layout changes; values, state dicts and saved files are the same."""
    return model.to(memory_format=torch.channels_last)


def as_channels_last(batch: torch.Tensor) -> torch.Tensor:
    return batch.contiguous(memory_format=torch.channels_last) if batch.ndim == 4 else batch
