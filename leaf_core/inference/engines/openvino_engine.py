"""OpenVINO: the CPU engine (chosen over ONNX Runtime by measurement, benchmarks/README.md).

The graphs are exported once per model folder content (engines/graphs.py to ONNX, then OpenVINO's
own IR, float32 weights) into the graph cache, and compiled for the CPU with as many threads as
torch uses. ``precision`` "fp32" keeps every op in float32 (OpenVINO would otherwise pick bf16 on
CPUs with native bf16); "bf16" asks for it; "int8" runs the graphs quantized by
engines/quantization.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from leaf_core.inference.engines.graph_cache import CacheEntry
from leaf_core.inference.engines.graphs import GRAPH_NAMES, export_onnx
from leaf_core.model.leaf_model import LeafModel

ENGINE = "openvino"
FP32 = "fp32"  # the variant folder of the float32 graphs (bf16 runs them too)
INT8 = "int8"


def load_openvino() -> ModuleType | None:
    """The openvino module, or None when it is not installed (the `fast` extra)."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def cache_entry(model_dir: Path) -> CacheEntry:
    """The graph cache entry of a model folder's current content (requires openvino)."""
    import openvino

    return CacheEntry.for_model(model_dir, ENGINE, openvino.__version__)


def graph_files(folder: Path) -> dict[str, Path]:
    return {name: folder / f"{name}.xml" for name in GRAPH_NAMES}


def export_fp32(model: LeafModel, entry: CacheEntry) -> Path:
    """Export the model's graphs as float32 OpenVINO IR into the entry (once per content)."""
    import openvino

    if entry.has(FP32):
        return entry.variant(FP32)
    staging = entry.staging(FP32)
    onnx_paths = export_onnx(model, staging / "onnx")
    for name, onnx_path in onnx_paths.items():
        openvino.save_model(openvino.convert_model(onnx_path), graph_files(staging)[name], compress_to_fp16=False)
    shutil.rmtree(staging / "onnx")
    entry.update_meta(openvino=openvino.__version__, torch=torch.__version__)
    return entry.commit(staging, FP32)


def int8_graph_files(entry: CacheEntry) -> dict[str, Path]:
    """The int8 variant: the graphs `leaf quantize` kept in int8, the others float32."""
    quantized = set(entry.meta().get("int8", {}).get("graphs", []))
    return {name: (graph_files(entry.variant(INT8)) if name in quantized else graph_files(entry.variant(FP32)))[name]
            for name in GRAPH_NAMES}


class OpenVINOBackend:
    """Three graphs (IR files keyed by GRAPH_NAMES), compiled for the CPU."""

    engine = ENGINE

    def __init__(self, graphs: dict[str, Path], precision: str, threads: int | None = None) -> None:
        import openvino

        self.precision = precision
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        }
        core = openvino.Core()
        self._compiled = {name: core.compile_model(path, "CPU", config) for name, path in graphs.items()}

    def _run(self, name: str, *inputs: torch.Tensor) -> torch.Tensor:
        # A request per call: the app predicts off the GUI thread, and a request is not shared.
        request = self._compiled[name].create_infer_request()
        arrays = [np.ascontiguousarray(x.detach().cpu().numpy()) for x in inputs]
        return torch.from_numpy(np.array(request.infer(arrays)[0], dtype=np.float32, copy=True))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self._run("image_encoder", images.float())

    def unet(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        timesteps = torch.as_tensor(timesteps, dtype=torch.long).reshape(-1).expand(sample.shape[0])
        return self._run("unet", sample.float(), timesteps)

    def decode(self, mask_latents: torch.Tensor) -> torch.Tensor:
        return self._run("mask_decoder", mask_latents.float())
