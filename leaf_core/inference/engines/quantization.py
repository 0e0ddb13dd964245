"""Post-training int8 for OpenVINO (NNCF), calibrated on a model's own val images, kept only
where the masks stay.

``calibrate(model_dir, images, masks)`` runs the float32 graphs on the images through the
Predictor's own path, records what each graph receives (so calibration sees exactly the
inputs prediction gives it, at the single LEAF step), and quantizes each graph with NNCF
(symmetric weights, asymmetric activations, per-channel; the overflow fix on every layer, so
the graphs keep their accuracy on CPUs without VNNI, whose int8 products saturate at 16 bits).
Graphs are then tried in int8 one at a time, the most work first (mask decoder, image encoder,
U-Net), and one is kept only while the whole prediction still passes: the masks agree with
float32's on at least MIN_PIXEL_AGREEMENT of the pixels and, with ground-truth masks, Dice changes
by at most MAX_DICE_CHANGE. Both, because on a few val images the Dice change is noise that does
not bound test's, while the share of pixels that agree carries over (benchmarks/README.md, "int8
on trained models"). The graphs kept are recorded in the graph cache; the Predictor's precision
"auto" uses them when they were also faster than torch. benchmarks/quantization.py checks test Dice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from leaf_core.inference.engines import openvino_engine
from leaf_core.inference.engines.backend import Backend, TorchBackend
from leaf_core.inference.engines.graphs import GRAPH_NAMES, quiet_tools
from leaf_core.inference.engines.selection import seconds_per_image
from leaf_core.metrics import dice_score
from leaf_core.model.leaf_model import LeafModel

log = logging.getLogger(__name__)

MAX_DICE_CHANGE = 0.005
MIN_PIXEL_AGREEMENT = 0.995
TRY_ORDER = ("mask_decoder", "image_encoder", "unet")  # the most work first (benchmarks/README.md)


@dataclass
class Trial:
    """One set of int8 graphs and how its masks compare with float32's."""

    graphs: list[str]
    pixel_agreement: float
    dice: float | None
    passed: bool


@dataclass
class QuantizationReport:
    model_dir: str
    n_images: int
    int8_graphs: list[str]
    accepted: bool
    fp32_dice: float | None
    pixel_agreement: float
    int8_dice: float | None
    seconds_per_image: dict[str, float]
    trials: list[Trial] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


class RecordingBackend:
    """A backend that keeps a copy of every input it is given, per graph (the calibration data)."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.engine, self.precision = inner, inner.engine, inner.precision
        self.inputs: dict[str, list[list[np.ndarray]]] = {name: [] for name in GRAPH_NAMES}

    def _keep(self, name: str, *tensors: torch.Tensor) -> None:
        self.inputs[name].append([np.ascontiguousarray(t.detach().cpu().numpy()) for t in tensors])

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        self._keep("image_encoder", images.float())
        return self.inner.encode(images)

    def unet(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        self._keep("unet", sample.float(), torch.as_tensor(timesteps, dtype=torch.long).reshape(-1).expand(sample.shape[0]))
        return self.inner.unet(sample, timesteps)

    def decode(self, mask_latents: torch.Tensor) -> torch.Tensor:
        self._keep("mask_decoder", mask_latents.float())
        return self.inner.decode(mask_latents)


def predict_masks(model: LeafModel, backend: Backend, images: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Masks (each image's own size) as the Predictor makes them on ``backend``."""
    from leaf_core.inference.predictor import Predictor

    predictor = Predictor(model, model.device, backend=backend)
    masks = []
    for rgb in images:
        predictor.set_image(rgb)
        masks.append(predictor.predict(seed).mask)
    return masks


def quantize_graph(name: str, fp32_graph: Path, samples: list[list[np.ndarray]], out: Path) -> None:
    """NNCF post-training quantization of one float32 IR graph into ``out``."""
    import nncf
    import openvino

    graph = openvino.Core().read_model(fp32_graph)
    input_names = [port.get_any_name() for port in graph.inputs]
    dataset = nncf.Dataset(samples, lambda sample: dict(zip(input_names, sample)))
    with quiet_tools():
        quantized = nncf.quantize(
            graph, dataset, preset=nncf.QuantizationPreset.MIXED, subset_size=len(samples),
            model_type=nncf.ModelType.TRANSFORMER if name == "unet" else None,
            advanced_parameters=nncf.AdvancedQuantizationParameters(overflow_fix=nncf.OverflowFix.ENABLE),
        )
    openvino.save_model(quantized, out, compress_to_fp16=False)


def mask_figures(masks: list[np.ndarray], reference: list[np.ndarray], truth: list[np.ndarray] | None
                 ) -> tuple[float, float | None]:
    """(share of pixels where ``masks`` agree with ``reference``, mean Dice against ``truth`` or None)."""
    agreeing = sum(int((m == r).sum()) for m, r in zip(masks, reference))
    agreement = agreeing / sum(r.size for r in reference)
    dice = None if truth is None else float(np.mean([dice_score(m, t) for m, t in zip(masks, truth)]))
    return agreement, dice


def calibrate(model_dir: str | Path, images: list[np.ndarray], masks: list[np.ndarray] | None = None,
              seed: int = 0) -> QuantizationReport:
    """Quantize the model folder's graphs on ``images`` (HxWx3 uint8, the model's val images) and
    keep int8 where the masks stay (``masks``: their ground truth, HxW bool, when known)."""
    if not images:
        raise ValueError("calibration needs at least one image")
    model_dir = Path(model_dir)
    model = LeafModel.from_pretrained(model_dir).eval()
    entry = openvino_engine.cache_entry(model_dir)
    fp32_files = openvino_engine.graph_files(openvino_engine.export_fp32(model, entry))
    recorder = RecordingBackend(openvino_engine.OpenVINOBackend(fp32_files, "fp32"))
    reference = predict_masks(model, recorder, images, seed)
    fp32_dice = mask_figures(reference, reference, masks)[1]

    staging = entry.staging(openvino_engine.INT8)
    int8_files = openvino_engine.graph_files(staging)
    for name in GRAPH_NAMES:
        quantize_graph(name, fp32_files[name], recorder.inputs[name], int8_files[name])

    def mixed(int8_graphs: list[str]) -> Backend:
        return openvino_engine.OpenVINOBackend(
            {g: (int8_files if g in int8_graphs else fp32_files)[g] for g in GRAPH_NAMES}, "int8")

    kept: list[str] = []
    trials = []
    for name in TRY_ORDER:
        graphs = [*kept, name]
        agreement, dice = mask_figures(predict_masks(model, mixed(graphs), images, seed), reference, masks)
        passed = agreement >= MIN_PIXEL_AGREEMENT and (masks is None or abs(dice - fp32_dice) <= MAX_DICE_CHANGE)
        trials.append(Trial(graphs, agreement, dice, passed))
        log.info("int8 %s: pixel agreement %.4f, Dice %s: %s", graphs, agreement, dice, "kept" if passed else "refused")
        if passed:
            kept = graphs
    for name in GRAPH_NAMES:
        if name not in kept:
            for suffix in (".xml", ".bin"):
                int8_files[name].with_suffix(suffix).unlink(missing_ok=True)
    final = [t for t in trials if t.graphs == kept]
    speed = {"torch_fp32": seconds_per_image(model, TorchBackend(model, "fp32")),
             "openvino_fp32": seconds_per_image(model, openvino_engine.OpenVINOBackend(fp32_files, "fp32")),
             "openvino_int8": seconds_per_image(model, mixed(kept))}
    report = QuantizationReport(
        str(model_dir), len(images), kept, accepted=bool(kept) and speed["openvino_int8"] < speed["torch_fp32"],
        fp32_dice=fp32_dice, pixel_agreement=final[0].pixel_agreement if final else 1.0,
        int8_dice=final[0].dice if final else fp32_dice, seconds_per_image=speed, trials=trials)
    entry.commit(staging, openvino_engine.INT8, replace=True)
    entry.update_meta(int8={"graphs": kept, "accepted": report.accepted, "calibrated_at": time.time(),
                            "report": report.as_json()})
    return report
