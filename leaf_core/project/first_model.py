"""A project's first model: what the app's "Train first model" runs, and when it can.

The recipe is the `cpu` preset (TAESD embedded in the package, so it works offline) with the
settings below, chosen by measurement on the four shared datasets (benchmarks/cold_start.py,
benchmarks/README.md "Cold start"). Plain data, no Qt.
"""

from __future__ import annotations

from leaf_core.project.model_jobs import FinetuneSettings

MIN_CORRECTIONS = 10
"""Fewer corrected images than this give too little to learn from and to validate on."""
STEPS_PER_CORRECTION = 15
MIN_STEPS, MAX_STEPS = 600, 1500  # 20 corrections: 600 steps; 100 corrections: 1500
FROZEN_IMAGE_ENCODER_LAYERS = 6
"""TAESD's first 6 of 15 encoder layers stay as initialised: the backward pass through them is
about half of a step's time on a CPU, and training them is worth nothing measurable on 20 or 100
corrections."""
QUARTER_TURNS = True
"""Random quarter turns besides the flips (all eight poses of a square): on three draws of 20
kvasir-seg corrections test Dice 0.602 on average against 0.573 with flips only, on 20 covid-qu-ex
corrections 0.610 against 0.552 (benchmarks/README.md "Cold start"). The flips already show
chest X-rays upside down; the turns add no new kind of pose a model must not learn from."""

KEEP_BEST_FROM = 0.5
"""The best val model is kept from half the steps on: the 4 val images of 20 corrections once
ranked step 100 of 600 first (test Dice 0.248, where the step-500 model had 0.456)."""


def first_model_settings(corrections: int) -> FinetuneSettings:
    """The training settings of a first model on ``corrections`` corrected images.

    128 px, not 64: on 20 kvasir-seg corrections it is worth 0.65 against 0.62 test Dice, and
    more steps at 64 px do not close the gap (1500 steps: 0.62). 600 steps are enough for 20
    corrections (900 give the same 0.65); 100 corrections get 1500 steps (test Dice 0.81).
    Freezing the image encoder's first layers halves the time on an AVX2 CPU (20 corrections:
    26.7 to 12.4 min) at the same test Dice (0.633 and 0.636). Scale and colour jitter are left
    off: over four draws of 20 kvasir-seg corrections 0.628 against 0.632, on 100 0.787 against
    0.807, at 45% more CPU time.
    """
    steps = min(MAX_STEPS, max(MIN_STEPS, STEPS_PER_CORRECTION * corrections))
    return FinetuneSettings(steps=steps, batch_size=4, resolution=128, warmup_steps=50, val_every=100,
                            keep_best_from=KEEP_BEST_FROM, frozen_image_encoder_layers=FROZEN_IMAGE_ENCODER_LAYERS,
                            quarter_turns=QUARTER_TURNS)


def readiness(corrections: int) -> str:
    """'12 corrected images: ready to train' or '4 of the 10 corrected images it needs'."""
    if corrections >= MIN_CORRECTIONS:
        return f"{corrections} corrected image{'s' if corrections != 1 else ''}: ready to train"
    return f"{corrections} of the {MIN_CORRECTIONS} corrected images it needs"
