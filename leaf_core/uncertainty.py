"""How unsure a model is about an image: the score that "Next image to correct" ranks by.

The score is the mean, over the image, of the per-pixel uncertainty of a small ensemble
(``Predictor.predict_ensemble``: twice the standard deviation of the seeds' probabilities, in
[0, 1]). Images the model is unsure about teach it the most when corrected, as in MONAI Label's
"next sample"; benchmarks/cold_start.py measures whether the order helps.
"""

from __future__ import annotations

import numpy as np


def uncertainty_score(uncertainty: np.ndarray) -> float:
    """Mean per-pixel uncertainty of an HxW map in [0, 1]; higher means less sure."""
    return float(np.mean(uncertainty, dtype=np.float64))
