"""Which backend a Predictor runs on: torch, or OpenVINO when it is installed and faster.

engine "auto" (the default) uses OpenVINO for a model loaded from a folder, on the CPU, when
OpenVINO is installed and was measured faster than torch on this machine (timed once, when the
folder's graphs are exported); otherwise torch, the reference. A missing OpenVINO is said in one
log line. "torch" and "openvino" are used as asked (asking for OpenVINO without it is an error).
The environment variable LEAF_ENGINE sets what "auto" means (e.g. LEAF_ENGINE=torch: the test
suite's default, so that tests that do not test engines export nothing).

precision "auto" is int8 where `leaf quantize` accepted int8 graphs for this folder's content
(its masks kept, and faster), else bf16 where the CPU runs it natively, else fp32. "int8" needs
those graphs; torch has no int8 path.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch

from leaf_core.errors import LeafError
from leaf_core.inference.engines import openvino_engine
from leaf_core.inference.engines.backend import Backend, TorchBackend
from leaf_core.inference.precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from leaf_core.model.leaf_model import LeafModel

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "openvino")
DEFAULT_ENGINE = "auto"
ENGINE_VARIABLE = "LEAF_ENGINE"
ENGINE_PRECISIONS = (*PRECISIONS, "int8")
INSTALL_HINT = "pip install 'leaf-annotate[fast]'"
_said: set[str] = set()


def say_once(message: str) -> None:
    """Log a fallback once per process (the app makes a Predictor per model, evaluation one per run)."""
    if message not in _said:
        _said.add(message)
        log.warning(message)


def make_backend(model: LeafModel, engine: str = DEFAULT_ENGINE, precision: str = DEFAULT_PRECISION,
                 model_dir: str | Path | None = None) -> Backend:
    """The backend for ``model`` (on its device); ``model_dir`` is the folder its weights were loaded from."""
    if engine == "auto":
        engine = os.environ.get(ENGINE_VARIABLE, "auto") or "auto"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if precision not in ENGINE_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {ENGINE_PRECISIONS}")
    if engine == "torch":
        if precision == "int8":
            raise LeafError("int8 runs on OpenVINO only: use --engine openvino or auto")
        return TorchBackend(model, precision)
    wanted = engine == "openvino" or precision == "int8"
    reason = _why_not_openvino(model, model_dir)
    if reason:
        if wanted:
            raise LeafError(f"cannot predict with OpenVINO: {reason}")
        if openvino_engine.load_openvino() is None:
            say_once(f"OpenVINO is not installed: predicting with torch ({INSTALL_HINT} for the faster engine)")
        return TorchBackend(model, precision)
    entry = openvino_engine.cache_entry(Path(model_dir))
    try:
        fp32_graphs = openvino_engine.export_fp32(model, entry)
    except Exception as error:  # an exporter that cannot take this model must not stop prediction
        if wanted:
            raise LeafError(f"cannot export the model in {model_dir} for OpenVINO: {error}") from error
        log.exception("exporting %s for OpenVINO failed", model_dir)
        say_once(f"OpenVINO could not take the model in {model_dir}: predicting with torch (see the log)")
        return TorchBackend(model, precision)
    int8 = entry.meta().get("int8", {})
    if precision == "int8" or (precision == "auto" and int8.get("accepted")):
        if not entry.has(openvino_engine.INT8):
            raise LeafError(f"no int8 graphs for the model in {model_dir}: run "
                            f"`leaf quantize --model {model_dir} --data DATASET` first")
        if not int8.get("graphs"):
            raise LeafError(f"int8 changed the masks of the model in {model_dir} (leaf quantize kept no graph "
                            "in int8): predict in fp32")
        return openvino_engine.OpenVINOBackend(openvino_engine.int8_graph_files(entry), "int8")
    resolved = resolve_precision(precision, model.device)
    backend = openvino_engine.OpenVINOBackend(openvino_engine.graph_files(fp32_graphs), resolved)
    if engine == "openvino":
        return backend
    speed = entry.meta().get("speed", {}).get(resolved)
    if speed is None:
        reference = TorchBackend(model, resolved)
        speed = {"torch_s": seconds_per_image(model, reference), "openvino_s": seconds_per_image(model, backend),
                 "threads": torch.get_num_threads()}
        entry.update_meta(speed={**entry.meta().get("speed", {}), resolved: speed})
    if speed["openvino_s"] >= speed["torch_s"]:
        say_once(f"OpenVINO is not faster than torch here ({speed['openvino_s']:.3f} s against "
                 f"{speed['torch_s']:.3f} s per image): predicting with torch")
        return TorchBackend(model, precision)
    return backend


def _why_not_openvino(model: LeafModel, model_dir: str | Path | None) -> str:
    """Why OpenVINO cannot run this model here ("" when it can)."""
    if openvino_engine.load_openvino() is None:
        return f"OpenVINO is not installed ({INSTALL_HINT})"
    if model.device.type != "cpu":
        return f"it runs on the CPU, and the model is on {model.device}"
    if model_dir is None:
        return "the model was not loaded from a folder (the exported graphs are cached per model folder)"
    return ""


def seconds_per_image(model: LeafModel, backend: Backend) -> float:
    """Wall seconds of one single-step prediction at batch 1 (after a warm-up call)."""
    resolution, latent, channels = model.config.resolution, model.latent_size, model.latent_channels
    images = torch.zeros(1, 3, resolution, resolution)
    timesteps = torch.full((1,), model.scheduler.config.num_train_timesteps - 1, dtype=torch.long)

    def predict() -> None:
        latents = backend.encode(images)
        backend.decode(backend.unet(torch.cat([latents, torch.randn(1, channels, latent, latent)], 1), timesteps))
    predict()
    start = time.perf_counter()
    predict()
    return time.perf_counter() - start
