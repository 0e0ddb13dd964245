"""Issue 17 in one run: per preset, CPU and wall seconds per image at 1 and 2 threads for torch fp32,
OpenVINO fp32 and OpenVINO int8, peak memory of each, and the authors' code on the same weights.

    python benchmarks/engine_speed.py --authors-code /work/scratch/leaf-ref --authors-deps /work/scratch/pydeps

Weights: O(1)-scale random (every matrix/kernel randn / sqrt(fan-in), norm scales 1 + 0.1 randn,
the rest 0.1 randn: leaf_core.testing.o1_scale_tensor). The paper preset is the authors'
format at full size, written with those weights and imported (leaf import-weights --from
reference), so their code and ours run the very same weights; the cpu preset is built from its
preset with every component random. int8 is calibrated (leaf_core.inference.engines.quantization)
on --calibration-images val images of ../shared/data/kvasir-seg, without masks, so its check is
pixel agreement with fp32 (the issue's criterion for random weights: at least 99.5%).
Each configuration runs in its own process; its peak memory is VmHWM (the kernel's ru_maxrss
carries the parent's peak across exec). --images timed images after one untimed. --work keeps the
model folders and the graph cache, so a later run reuses the export and the calibration. Results: results/engine_speed.json. The authors' code (github:Pearisli/LEAF) must be
fetched outside the repository; it runs fp32, single step, as our fp32 path does.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA_ROOT, RESULTS, REPO_ROOT, command_line, csv_list, machine, peak_rss_mb, set_threads, timed, write_json  # noqa: E402,E501

RESOLUTIONS = {"cpu": 128, "paper": 256}
CONFIGS = ("torch_fp32", "openvino_fp32", "openvino_int8")
NATIVE_BF16_CONFIGS = ("torch_bf16", "openvino_bf16")  # what precision "auto" picks where the CPU has native bf16
TARGETS = {"paper": ("authors", 0.33), "cpu": ("torch_fp32", 0.5)}  # issue 17: best engine CPU s / reference


def reference_fakes():
    path = REPO_ROOT / "tests" / "convert" / "reference_fakes.py"
    spec = importlib.util.spec_from_file_location("reference_fakes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_paper_models(work: Path, seed: int = 0) -> tuple[Path, Path]:
    """The authors' format at full size with O(1) random weights, and our import of it."""
    from safetensors.torch import save_file

    from leaf_core.convert import import_reference

    fakes = reference_fakes()
    source = work / "authors"
    (source / "scheduler").mkdir(parents=True)
    (source / "model_index.json").write_text(json.dumps({"_class_name": "LeafPipeline"}))
    for offset, part in enumerate(("unet", "vae", "latent_encoder")):
        (source / part).mkdir()
        (source / part / "config.json").write_text(json.dumps(fakes.documented_config(part)))
        state = fakes.random_state(fakes.documented_shapes(part), seed + offset)
        save_file(state, str(source / part / "diffusion_pytorch_model.safetensors"))
    (source / "scheduler" / "scheduler_config.json").write_text((fakes.FORMAT_DIR / "scheduler.config.json").read_text())
    import_reference(source, work / "paper-model")
    return source, work / "paper-model"


def write_cpu_model(work: Path, seed: int = 0) -> Path:
    """The cpu preset with every component O(1) random."""
    from leaf_core.model.builder import ModelSources, build_model
    from leaf_core.testing import randomize_weights

    return randomize_weights(build_model("cpu", ModelSources(autoencoder="random")), seed).save_pretrained(work / "cpu-model")


def test_images(n: int, seed: int = 0) -> list:
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:480, :560]
    return [np.clip((np.sin(xx / (17 + i)) * 60 + np.cos(yy / 23.0) * 60 + 128)[..., None]
                    + rng.normal(0, 25, (480, 560, 3)), 0, 255).astype(np.uint8) for i in range(n)]


def calibration_images(n: int) -> list:
    from leaf_core.io.dataset_folder import DatasetFolder

    return [rgb for _, rgb, _ in list(DatasetFolder(DATA_ROOT / "kvasir-seg").readable_pairs("val"))[:n]]


def time_ours(model_dir: Path, config: str, n_images: int) -> dict:
    from leaf_core.inference import Predictor
    from leaf_core.model import LeafModel

    engine, precision = config.split("_")
    predictor = Predictor(LeafModel.from_pretrained(model_dir), "cpu", precision, engine=engine, model_dir=model_dir)
    images = test_images(n_images + 1)
    masks = []

    def run(rgb):
        predictor.set_image(rgb)
        masks.append(predictor.predict(0).mask)
    run(images[0])
    with timed() as clock:
        for rgb in images[1:]:
            run(rgb)
    return {"cpu_s": clock.cpu_s / n_images, "wall_s": clock.wall_s / n_images, "label": predictor.engine_label,
            "foreground": [float(m.mean()) for m in masks]}


def time_authors(source: Path, n_images: int) -> dict:
    """Their LeafPipeline, fp32, single step, on the same weights and images (resized as theirs: PIL bilinear)."""
    import numpy as np
    import torch
    from diffusers import DDIMScheduler
    from PIL import Image
    from safetensors.torch import load_file

    from leaf.autoencoder import AutoencoderKL, LatentEncoder
    from leaf.pipeline import LeafPipeline
    from leaf.unet import UNetModel

    def build(cls, part):
        config = {k: v for k, v in json.loads((source / part / "config.json").read_text()).items() if not k.startswith("_")}
        module = cls(**config)
        module.load_state_dict(load_file(source / part / "diffusion_pytorch_model.safetensors"), strict=True)
        return module.eval()
    scheduler = DDIMScheduler.from_config(json.loads((source / "scheduler" / "scheduler_config.json").read_text()))
    pipe = LeafPipeline(build(AutoencoderKL, "vae"), build(UNetModel, "unet"), build(LatentEncoder, "latent_encoder"),
                        scheduler)
    images = test_images(n_images + 1)

    def run(rgb):
        x = np.asarray(Image.fromarray(rgb).resize((256, 256), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        with torch.inference_mode():
            out = pipe(torch.from_numpy(x).permute(2, 0, 1)[None], num_inference_steps=1,
                       generator=torch.Generator().manual_seed(0))
        return out.mask_pred
    run(images[0])
    with timed() as clock:
        for rgb in images[1:]:
            run(rgb)
    return {"cpu_s": clock.cpu_s / n_images, "wall_s": clock.wall_s / n_images}


def peak_memory_mb() -> float:
    """This process's own peak resident memory, MiB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peak_rss_mb()


def worker(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    if args.worker == "authors":
        sys.path[:0] = [str(args.authors_code), *([str(args.authors_deps)] if args.authors_deps else [])]
        result = time_authors(Path(args.model_dir), args.images)
    else:
        result = time_ours(Path(args.model_dir), args.worker, args.images)
    result["peak_rss_mb"] = peak_memory_mb()
    return result


def run_child(argv: list[str]) -> dict:
    completed = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"worker {argv} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def prepare(preset: str, work: Path, n_calibration: int) -> dict:
    """Write the model folder, export it and calibrate int8 (timed), or reuse what ``work`` holds."""
    import torch

    from leaf_core.inference.engines import openvino_engine
    from leaf_core.inference.engines.quantization import calibrate
    from leaf_core.model import LeafModel

    torch.set_num_threads(2)
    if preset == "paper":
        source, model_dir = (work / "authors", work / "paper-model") if (work / "paper-model").is_dir() \
            else write_paper_models(work)
    else:
        source, model_dir = None, (work / "cpu-model" if (work / "cpu-model").is_dir() else write_cpu_model(work))
    entry = openvino_engine.cache_entry(model_dir)
    figures = {"source": source, "model_dir": model_dir, "reused": entry.has(openvino_engine.FP32)}
    start = time.perf_counter()
    openvino_engine.export_fp32(LeafModel.from_pretrained(model_dir), entry)
    figures["export_wall_s"] = None if figures["reused"] else time.perf_counter() - start
    if "int8" in entry.meta():
        figures.update(calibrate_wall_s=None, int8=entry.meta()["int8"]["report"])
    else:
        start = time.perf_counter()
        figures["int8"] = calibrate(model_dir, calibration_images(n_calibration)).as_json()
        figures["calibrate_wall_s"] = time.perf_counter() - start
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--images", type=int, default=2, help="timed images per configuration (after one untimed)")
    parser.add_argument("--calibration-images", type=int, default=4)
    parser.add_argument("--authors-code", type=Path, default=None, help="a checkout of github:Pearisli/LEAF")
    parser.add_argument("--authors-deps", type=Path, default=None, help="a folder with einops, if not installed")
    parser.add_argument("--out", type=Path, default=RESULTS / "engine_speed.json")
    parser.add_argument("--work", type=Path, default=None, help="keep models and graph cache here (reused next time)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.threads = int(args.threads)
        result = worker(args)
        print(json.dumps(result))
        return result
    import torch

    from leaf_core.inference.precision import native_bf16

    configs = CONFIGS + (NATIVE_BF16_CONFIGS if native_bf16(torch.device("cpu")) else ())
    results: dict = {"machine": machine(), "native_bf16": native_bf16(torch.device("cpu")), "load_average_before": os.getloadavg(), "command": command_line(__file__, argv),
                     "images_timed": args.images, "presets": {}}
    with contextlib.ExitStack() as stack:
        folder = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leaf-engine-speed-")))
        os.environ["LEAF_DATA_DIR"] = str(Path(folder) / "data")  # the graph cache goes with the models
        for preset in csv_list(args.presets):
            print(f"{preset}: writing, exporting and calibrating", flush=True)
            prepared = prepare(preset, Path(folder) / preset, args.calibration_images)
            entry = {k: prepared[k] for k in ("reused", "export_wall_s", "calibrate_wall_s", "int8")}
            for threads in [int(t) for t in csv_list(args.threads)]:
                timings = {}
                for config in configs:
                    timings[config] = run_child(["--worker", config, "--model-dir", str(prepared["model_dir"]),
                                                 "--threads", str(threads), "--images", str(args.images)])
                    print(f"  {preset} {threads} thread(s) {config}: {timings[config]['cpu_s']:.3f} CPU s, "
                          f"{timings[config]['wall_s']:.3f} wall s per image", flush=True)
                if preset == "paper" and args.authors_code:
                    timings["authors"] = run_child(["--worker", "authors", "--model-dir", str(prepared["source"]),
                                                    "--threads", str(threads), "--images", str(args.images),
                                                    "--authors-code", str(args.authors_code),
                                                    *(["--authors-deps", str(args.authors_deps)] if args.authors_deps else [])])
                    print(f"  {preset} {threads} thread(s) authors: {timings['authors']['cpu_s']:.3f} CPU s", flush=True)
                reference, target = TARGETS[preset]
                if reference in timings:
                    best = min(timings[c]["cpu_s"] for c in configs if c.startswith("openvino"))
                    timings["target"] = {"against": reference, "ratio": best / timings[reference]["cpu_s"],
                                         "at_most": target, "met": best / timings[reference]["cpu_s"] <= target}
                entry[f"{threads}_threads"] = timings
            results["presets"][preset] = entry
            results["load_average_after"] = os.getloadavg()
            write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
