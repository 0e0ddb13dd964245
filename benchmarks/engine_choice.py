"""Why OpenVINO (issue 17): ONNX Runtime and OpenVINO on the very same ONNX graphs, per graph.

    pip install onnxruntime        # not a dependency of the project: only this comparison needs it
    python benchmarks/engine_choice.py --presets cpu,paper --threads 1 --int8-presets cpu

Both engines read the graphs leaf_core.inference.engines.graphs.export_onnx writes (O(1)-scale
random weights, benchmarks/engine_speed.py), time each graph at batch 1 after one untimed call
(process CPU seconds and wall seconds), and, for --int8-presets, quantize them with their own
post-training tooling on the same calibration inputs (the fp32 graphs' own inputs along the
Predictor's path, on kvasir-seg val images): NNCF for OpenVINO (leaf_core's settings), ONNX
Runtime's static quantization (QDQ, per-channel, MinMax; convolutions only: quantizing the
exporter's attention MatMuls gives a graph ONNX Runtime refuses to load). Results:
results/engine_choice.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, command_line, csv_list, machine, set_threads, timed, write_json  # noqa: E402
from engine_speed import calibration_images, write_cpu_model, write_paper_models  # noqa: E402


def openvino_runner(path: Path, threads: int):
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    return lambda inputs: request.infer(inputs)[0]


def onnxruntime_runner(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, dict(zip(names, inputs)))[0]


def quantize_onnxruntime(path: Path, samples: list, out: Path) -> Path:
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    names = [i.name for i in onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.samples = iter(samples)

        def get_next(self):
            sample = next(self.samples, None)
            return None if sample is None else dict(zip(names, sample))
    quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                    use_external_data_format=True)
    return out


def per_graph(runners: dict, samples: dict) -> dict:
    figures = {}
    for name, run in runners.items():
        run(samples[name][0])
        with timed() as clock:
            run(samples[name][0])
        figures[name] = {"cpu_s": clock.cpu_s, "wall_s": clock.wall_s}
    figures["total_cpu_s"] = sum(f["cpu_s"] for f in figures.values())
    return figures


def compare(preset: str, work: Path, threads: list[int], int8: bool, n_calibration: int) -> dict:
    import numpy as np

    from leaf_core.inference.engines.graphs import export_onnx
    from leaf_core.inference.engines.quantization import RecordingBackend, predict_masks, quantize_graph
    from leaf_core.inference.engines.backend import TorchBackend
    from leaf_core.model import LeafModel

    model_dir = write_paper_models(work)[1] if preset == "paper" else write_cpu_model(work)
    model = LeafModel.from_pretrained(model_dir).eval()
    onnx = export_onnx(model, work / "onnx")
    recorder = RecordingBackend(TorchBackend(model, "fp32"))
    predict_masks(model, recorder, calibration_images(n_calibration))
    samples = recorder.inputs
    variants = {"fp32": {"openvino": onnx, "onnxruntime": onnx}}
    if int8:
        variants["int8"] = {"openvino": {}, "onnxruntime": {}}
        for name, path in onnx.items():
            quantize_graph(name, path, samples[name], work / f"{name}.int8.xml")
            variants["int8"]["openvino"][name] = work / f"{name}.int8.xml"
            variants["int8"]["onnxruntime"][name] = quantize_onnxruntime(path, samples[name], work / f"{name}.int8.onnx")
    makers = {"openvino": openvino_runner, "onnxruntime": onnxruntime_runner}
    out: dict = {}
    for precision, engines in variants.items():
        for engine, paths in engines.items():
            for n in threads:
                set_threads(n)
                runners = {name: makers[engine](path, n) for name, path in paths.items()}
                figures = per_graph(runners, samples)
                if precision == "int8":  # error of each graph on its own calibration inputs against fp32
                    reference = {name: makers[engine](onnx[name], n) for name in onnx}
                    figures["max_abs_error"] = {name: float(np.abs(runners[name](samples[name][0])
                                                                   - reference[name](samples[name][0])).max())
                                                for name in onnx}
                out[f"{engine}_{precision}_{n}_threads"] = figures
                print(f"{preset} {engine} {precision} {n} thread(s): {figures['total_cpu_s']:.3f} CPU s", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--int8-presets", default="cpu")
    parser.add_argument("--calibration-images", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "engine_choice.json")
    args = parser.parse_args(argv)
    results = {"machine": machine(), "command": command_line(__file__, argv), "presets": {}}
    with tempfile.TemporaryDirectory(prefix="leaf-engine-choice-") as folder:
        for preset in csv_list(args.presets):
            results["presets"][preset] = compare(preset, Path(folder) / preset, [int(t) for t in csv_list(args.threads)],
                                                 preset in csv_list(args.int8_presets), args.calibration_images)
            write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
