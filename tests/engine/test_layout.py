"""The layout keeps training-only code out of the model: inference runs without transformers."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_model_and_inference_run_without_transformers():
    # sys.modules[name] = None makes every import of it fail, and makes diffusers see it as absent.
    script = textwrap.dedent("""
        import sys
        sys.modules["transformers"] = None
        import numpy as np
        import leaf_core.model, leaf_core.inference, leaf_core.evaluation
        from leaf_core.inference import Predictor
        from leaf_core.testing import build_tiny_model
        predictor = Predictor(build_tiny_model(), device="cpu", precision="fp32")
        predictor.set_image(np.zeros((40, 30, 3), np.uint8))
        assert predictor.predict().mask.shape == (40, 30)
        loaded = sorted(name for name in sys.modules if name.startswith("leaf_core.training"))
        assert not loaded, loaded
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
