"""Processes and devices of a training run (accelerate), and the launches that would silently run one.

`accelerate launch --multi_gpu --num_processes N` and `torchrun --nproc_per_node N` start N
processes; on a machine without a GPU each trains on the CPU (gloo), so the same command runs
in CI and on a GPU server. `accelerate launch --cpu --num_processes N`, or a MULTI_CPU config
file, starts one process unless mpirun is set up: that is refused with a message that says what
to run instead, never a run on one process that looks like N.
"""

from __future__ import annotations

import os

import torch
from accelerate import Accelerator

from leaf_core.errors import LeafError

RANK_VARIABLES = ("WORLD_SIZE", "LOCAL_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_processes() -> int:
    """The number of processes the launcher started (1 for a plain `leaf train`)."""
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 1


def launched_rank() -> int:
    """This process's rank among the launched ones (0 for a plain `leaf train`), before accelerate starts."""
    for name in ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 0


def refuse_silent_single_process() -> None:
    """accelerate's simple launcher sets MASTER_ADDR for N > 1 processes but starts only one."""
    cpu_launch = os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true"
    if cpu_launch and os.environ.get("MASTER_ADDR") and not any(os.environ.get(v) for v in RANK_VARIABLES):
        raise LeafError(
            "accelerate launch --cpu (or a MULTI_CPU config) started one process, not the number asked for. "
            "On CPUs start several with: accelerate launch --multi_gpu --num_processes N -m leaf_core.cli.main train ... "
            "(without a GPU every process trains on the CPU), or torchrun --nproc_per_node N -m leaf_core.cli.main train ..."
        )


def make_accelerator(device: str | None, mixed_precision: str | None, grad_accum: int) -> Accelerator:
    """The run's Accelerator: CUDA when present (bf16), else the CPU, in as many processes as were launched."""
    refuse_silent_single_process()
    on_cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
    return Accelerator(
        mixed_precision=mixed_precision or ("no" if on_cpu else "bf16"),
        gradient_accumulation_steps=grad_accum,
        cpu=on_cpu,
    )
