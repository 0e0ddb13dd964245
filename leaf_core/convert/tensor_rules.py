"""Exact state-dict conversion: each source tensor goes to named targets by one explicit rule.

A conversion is a list of ``TensorRule``s. ``apply_rules`` refuses a conversion that leaves a source
tensor unused, uses one twice, fills a target twice, leaves a target parameter empty or produces a
shape the target does not have, so "the model loaded" always means "every weight came across".
The same code runs on meta tensors, which checks a full-size mapping without allocating it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

COPY = "copy"
SQUEEZE = "squeeze"  # a 1x1 Conv1d/Conv2d weight (O, I, 1[, 1]) to a Linear weight (O, I)
LEGACY_QKV = "legacy_qkv"  # one fused qkv tensor in the legacy head order to to_q, to_k, to_v
KINDS = (COPY, SQUEEZE, LEGACY_QKV)


@dataclass(frozen=True)
class TensorRule:
    """Source tensor ``source`` becomes ``targets`` (one, or three for LEGACY_QKV)."""

    source: str
    targets: tuple[str, ...]
    kind: str = COPY
    heads: int = 0  # LEGACY_QKV only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown rule kind {self.kind!r}")
        if len(self.targets) != (3 if self.kind == LEGACY_QKV else 1):
            raise ValueError(f"a {self.kind} rule for {self.source} needs {3 if self.kind == LEGACY_QKV else 1} targets")


class ConversionError(ValueError):
    """The source does not map exactly onto the target; the message lists what does not fit."""


def convert_tensor(rule: TensorRule, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The target tensors of one rule (works on meta tensors too)."""
    if rule.kind == COPY:
        return (tensor,)
    if rule.kind == SQUEEZE:
        if tensor.ndim < 3 or any(size != 1 for size in tensor.shape[2:]):
            raise ConversionError(f"{rule.source}: expected a 1x1 convolution weight, got shape {tuple(tensor.shape)}")
        return (tensor.reshape(tensor.shape[0], tensor.shape[1]),)
    return split_legacy_qkv(tensor, rule.heads, rule.source)


def split_legacy_qkv(qkv: torch.Tensor, heads: int, name: str = "qkv") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v weights (C, C) or biases (C,) from a fused (3C, C[, 1]) weight or (3C,) bias.

    The legacy order (CompVis QKVAttentionLegacy) reshapes the qkv output to
    (batch * heads, 3 * head_width, tokens) before splitting, so its rows are grouped per head as
    [q_h; k_h; v_h]. diffusers splits q, k and v first and then cuts each into heads of
    consecutive channels, which this permutation matches.
    """
    if qkv.ndim == 3:
        if qkv.shape[2] != 1:
            raise ConversionError(f"{name}: expected a 1x1 Conv1d weight, got shape {tuple(qkv.shape)}")
        qkv = qkv[:, :, 0]
    rows = qkv.shape[0]
    if heads < 1 or rows % (3 * heads):
        raise ConversionError(f"{name}: {rows} rows cannot hold q, k and v for {heads} heads")
    head_width = rows // (3 * heads)
    grouped = qkv.reshape(heads, 3, head_width, *qkv.shape[1:])
    return tuple(grouped[:, i].reshape(heads * head_width, *qkv.shape[1:]) for i in range(3))  # type: ignore[return-value]


def apply_rules(rules: list[TensorRule], source: dict[str, torch.Tensor],
                target_shapes: dict[str, torch.Size | tuple[int, ...]], dtype: torch.dtype | None = torch.float32
                ) -> dict[str, torch.Tensor]:
    """The target state dict, or a ConversionError naming every tensor that does not fit."""
    problems: list[str] = []
    used = Counter(rule.source for rule in rules)
    problems += [f"source tensor {k} would be used {n} times" for k, n in sorted(used.items()) if n > 1]
    problems += [f"no rule for source tensor {k}" for k in sorted(set(source) - set(used))]
    problems += [f"rule for {k}, which the source lacks" for k in sorted(set(used) - set(source))]
    converted: dict[str, torch.Tensor] = {}
    for rule in rules:
        if rule.source not in source:
            continue
        try:
            tensors = convert_tensor(rule, source[rule.source])
        except ConversionError as error:
            problems.append(str(error))
            continue
        for target, tensor in zip(rule.targets, tensors):
            if target in converted:
                problems.append(f"target {target} would be filled twice")
            elif target not in target_shapes:
                problems.append(f"{rule.source} maps to {target}, which the target model does not have")
            elif tuple(tensor.shape) != tuple(target_shapes[target]):
                problems.append(f"{rule.source} -> {target}: shape {tuple(tensor.shape)} where the target "
                                f"has {tuple(target_shapes[target])}")
            converted[target] = tensor
    problems += [f"target {k} is not filled by any source tensor" for k in sorted(set(target_shapes) - set(converted))]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ConversionError(shown)
    if dtype is not None:
        converted = {k: v.to(dtype) for k, v in converted.items()}
    return {k: v.contiguous() for k, v in converted.items()}


def load_converted(module: nn.Module, rules: list[TensorRule], source: dict[str, torch.Tensor]) -> nn.Module:
    """Fill ``module`` (built on any device, including meta) with the converted tensors, strictly."""
    state = module.state_dict()
    converted = apply_rules(rules, source, {k: v.shape for k, v in state.items()})
    module.load_state_dict(converted, strict=True, assign=True)
    if not any(t.is_meta for t in source.values()):
        empty = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
        if empty:
            raise ConversionError(f"left without values after loading: {', '.join(empty[:5])}")
    return module
