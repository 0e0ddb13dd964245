"""Training settings (defaults from the paper's public code, scaled where a CPU needs it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from leaf_core.model.builder import ModelSources
from leaf_core.model.parameterization import DEFAULT_PREDICTION_TYPE, NoiseScheduleConfig
from leaf_core.training.cadence import DEFAULT_BATCH_SIZE, FinetuneCadence

# Our names for the learning-rate schedules (after warm-up) -> diffusers' get_scheduler names.
LR_SCHEDULES = {"constant": "constant_with_warmup", "cosine": "cosine"}


@dataclass
class TrainConfig:
    """Everything a training or fine-tuning run needs.

    run_dir holds the log and checkpoints; the best model (by val Dice) goes to model_dir.
    init_model: an existing model folder to continue from (fine-tuning; its own parameterization
    and schedule are kept); otherwise the preset, with ``prediction_type`` and ``schedule``.
    batch_size is per process: the global batch is batch_size x processes.
    """

    data: Path
    run_dir: Path
    model_dir: Path
    init_model: Path | None = None
    preset: str = "cpu"
    sources: ModelSources = field(default_factory=ModelSources)
    resolution: int | None = None
    prediction_type: str = DEFAULT_PREDICTION_TYPE
    schedule: NoiseScheduleConfig = field(default_factory=NoiseScheduleConfig)
    steps: int = 1500
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float | None = None  # None: the preset's (paper 4e-5)
    lr_schedule: str | None = None  # a key of LR_SCHEDULES; None: the preset's
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    grad_accum: int = 1
    ema: bool = True
    ema_decay: float = 0.9999
    align_weight: float | None = None  # None: the preset's for a new model, 0 for a fine-tune
    teacher: str | None = None
    final_timestep_fraction: float | None = None  # None: the preset's (paper 0, uniform t)
    align_block: int = 0
    seed: int = 0
    val_every: int = 250
    select_from_step: int = 0  # validations before this step are logged, not kept as the best model
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    mixed_precision: str | None = None
    device: str | None = None
    resume: bool = False
    augment: bool = True  # random horizontal and vertical flips
    quarter_turns: bool = False  # with augment, random quarter turns too (all eight poses; a first model's default)
    scale_jitter: float = 0.0  # with augment, a random square crop of (1 - this)..1 of the side, resized back
    colour_jitter: float = 0.0  # with augment, brightness, contrast and saturation times 1 +- up to this
    frozen_image_encoder_layers: int = 0  # the first N layers of E_theta stay as initialised (0: all train)
    progress_jsonl: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.scale_jitter < 1.0:
            raise ValueError(f"--scale-jitter must be at least 0 and below 1, got {self.scale_jitter}")
        if not 0.0 <= self.colour_jitter <= 1.0:
            raise ValueError(f"--colour-jitter must be between 0 and 1, got {self.colour_jitter}")

    def as_json(self) -> dict:
        data = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}


def finetune_config(data: Path, init_model: Path, out: Path, **settings: object) -> TrainConfig:
    """A fine-tune of ``init_model`` on ``data`` into the new model folder ``out`` (its log and
    checkpoints in out/training), with the fine-tune cadence unless ``settings`` say otherwise."""
    return TrainConfig(data=Path(data), run_dir=Path(out) / "training", model_dir=Path(out), init_model=Path(init_model),
                       **{**asdict(FinetuneCadence()), **settings})
