"""Speed and memory of inference and training, for the `cpu` and `paper` presets (issues 3 and 9).

    python benchmarks/speed.py                            # both presets, CPU, 1 thread
    python benchmarks/speed.py --presets cpu --images 10

Inference, per image (the image latent computed once per image, as the Predictor does):
  before         the engine's path before this work: fp32, contiguous layout
  fp32           channels-last weights and inputs, fp32
  bf16           channels-last + bf16 autocast (only where the CPU has native bf16)
for single-step at batch 1 and at the best batch, and, with the fastest precision, 50-step DDIM
and a 5-seed x 100-step sampler (what a MedSegDiff-style model pays). Training: the trainer's own
step (batch 4, AdamW, EMA) timed after a warm-up step. Each preset runs in a child process so
its peak resident memory is its own.

Times are process CPU seconds with --threads 1: what the work costs on one otherwise idle core,
which a shared machine cannot disturb much. Wall seconds are recorded beside them
(`*_wall`); on a busy machine they are larger by the share of the core the process did not get.
Results: benchmarks/results/speed.json ({preset: {...}}) and speed_meta.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS, TAESD, command_line, csv_list, machine, peak_rss_mb, set_threads, timed, write_json,
)

RESOLUTIONS = {"cpu": 128, "paper": 256}
TARGETS_S = {"cpu": 0.15, "paper": 2.0}  # issue 3: single step, batch 1, per image


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--autoencoder", default=str(TAESD), help="the cpu preset's autoencoder (TAESD folder)")
    parser.add_argument("--paper-autoencoder", default=None,
                        help="kl-f8 folder for the paper preset; default: an untrained kl-f8 of the same "
                             "architecture (the same cost; no weights offline)")
    parser.add_argument("--resolution", type=int, default=None, help="override both presets' resolution (tests)")
    parser.add_argument("--images", type=int, default=3, help="timed images per single-step measurement")
    parser.add_argument("--batch-sizes", default="1,2,4,8")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--ensemble", type=int, default=5)
    parser.add_argument("--ensemble-steps", type=int, default=100)
    parser.add_argument("--sampler-images", type=int, default=1, help="timed images for DDIM and the ensemble")
    parser.add_argument("--extrapolate-samplers", default="paper",
                        help="presets whose long samplers are timed at 1 and 10 steps and extrapolated linearly "
                             "(every step is the same U-Net call), comma-separated; '' measures all in full")
    parser.add_argument("--train-steps", type=int, default=1, help="timed training steps (after one warm-up step)")
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--tag", default="")
    parser.add_argument("--worker", choices=("infer", "train"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--preset", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.presets = csv_list(args.presets)
    args.batch_sizes = [int(b) for b in csv_list(args.batch_sizes)]
    args.extrapolate_samplers = csv_list(args.extrapolate_samplers)
    return args


def build(args: argparse.Namespace, preset: str):
    from leaf_core.model.builder import ModelSources, build_model

    autoencoder = args.autoencoder if preset == "cpu" else (args.paper_autoencoder or untrained_kl_f8())
    resolution = args.resolution or RESOLUTIONS[preset]
    model = build_model(preset, ModelSources(autoencoder=autoencoder), resolution)
    return model.to(args.device).eval()


def untrained_kl_f8() -> str:
    """A kl-f8 autoencoder with random weights, saved to a temporary folder: the paper preset's
    architecture when its weights cannot be had offline (timing does not depend on the weights)."""
    from leaf_core.model.autoencoder import build_autoencoder

    folder = Path(tempfile.mkdtemp(prefix="leaf-speed-kl-f8-"))
    build_autoencoder("AutoencoderKL").save_pretrained(folder, safe_serialization=True)
    return str(folder)


def test_images(n: int, seed: int = 0) -> list:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (480, 560, 3), dtype=np.uint8) for _ in range(n)]


def baseline_probabilities(model, rgb, seeds: list[int], steps: int):
    """The Predictor's path before this work (fp32, contiguous weights and inputs)."""
    import torch

    from leaf_core.inference.predictor import image_to_model_input
    from leaf_core.inference.sampling import initial_noise, sample_mask_latents

    with torch.inference_mode():
        image_latent = model.image_encoder(image_to_model_input(rgb, model.config.resolution)[None].to(model.device))
        noise = initial_noise(model, seeds, model.device, image_latent.dtype)
        latents = sample_mask_latents(model, image_latent.expand(len(seeds), -1, -1, -1), noise, steps)
        return model.decode_probability(latents)


def component_gflop(model) -> dict:
    """Floating-point work of one single-step prediction at batch 1, per component, in GFLOP."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    resolution, latent = model.config.resolution, model.config.resolution // 8
    channels = model.unet.config.in_channels // 2
    parts = {
        "image_encoder": lambda: model.image_encoder(torch.zeros(1, 3, resolution, resolution)),
        "unet_step": lambda: model.unet(torch.zeros(1, 2 * channels, latent, latent), torch.tensor([999])),
        "mask_decoder": lambda: model.decode_probability(torch.zeros(1, channels, latent, latent)),
    }
    gflop = {}
    with torch.inference_mode():
        for name, run in parts.items():
            with FlopCounterMode(display=False) as counter:
                run()
            gflop[name] = counter.get_total_flops() / 1e9
    return gflop


def peak_gflops(precision: str, repeats: int = 3) -> float:
    """This CPU's best dense rate at ``precision`` with the current threads: the better of a large
    matmul and a large channels-last 3x3 convolution (what the autoencoders are made of). From CPU
    seconds over threads, so that a busy machine does not lower it."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).to(dtype=dtype, memory_format=torch.channels_last)
    x = torch.randn(1, 128, 128, 128, dtype=dtype).contiguous(memory_format=torch.channels_last)
    rates = []
    with torch.inference_mode():
        for run, flop in ((lambda: a @ b, 2 * 2048**3), (lambda: conv(x), 2 * 9 * 128 * 128 * 128 * 128)):
            run()
            with timed() as clock:
                for _ in range(repeats):
                    run()
            rates.append(flop * repeats / (clock.cpu_s / torch.get_num_threads()) / 1e9)
    return max(rates)


def per_image(run, images: list, warmup: bool = True) -> dict:
    """CPU and wall seconds per image of ``run(rgb)`` over images, after one untimed call."""
    if warmup:
        run(images[0])
    with timed() as clock:
        for rgb in images:
            run(rgb)
    return {"cpu_s": clock.cpu_s / len(images), "wall_s": clock.wall_s / len(images)}


def infer_worker(args: argparse.Namespace, preset: str) -> dict:
    import torch

    from leaf_core.inference.predictor import decode_masks, encode_images
    from leaf_core.inference.precision import native_bf16
    from leaf_core.inference.predictor import Predictor

    model = build(args, preset)
    device = torch.device(args.device)
    images = test_images(args.images)
    out: dict = {"resolution": model.config.resolution, "parameters": sum(p.numel() for p in model.parameters()),
                 "autoencoder": model.card.autoencoder, "native_bf16": native_bf16(device)}
    single = {"before": per_image(lambda rgb: baseline_probabilities(model, rgb, [0], 1), images)}
    precisions = ["fp32", "bf16"] if native_bf16(device) else ["fp32"]
    for precision in precisions:
        predictor = Predictor(model, device, precision=precision)

        def run(rgb, predictor=predictor):
            predictor.set_image(rgb)
            predictor.predict(seed=0)
        single[precision] = per_image(run, images)
        print(f"  {preset} single step batch 1 {precision}: {single[precision]['cpu_s']:.3f} CPU s/image", flush=True)
    out["single_step"] = single
    fastest = min(precisions, key=lambda p: single[p]["cpu_s"])
    out["precision"] = fastest
    out["gflop"] = component_gflop(model)
    out["peak_gflops"] = peak_gflops(fastest)

    batches = {}
    for batch_size in args.batch_sizes:
        batch = test_images(batch_size, seed=batch_size)

        def run_batch(_, batch=batch):
            decode_masks(model, encode_images(model, batch, fastest), list(range(len(batch))), 1, fastest)
        timing = per_image(run_batch, [None])
        batches[batch_size] = {"cpu_s": timing["cpu_s"] / batch_size, "wall_s": timing["wall_s"] / batch_size}
    best = min(batches, key=lambda b: batches[b]["cpu_s"])
    out["batches"] = batches
    out["best_batch"] = best

    predictor = Predictor(model, device, precision=fastest)
    sampler_images = test_images(args.sampler_images, seed=99)

    def sampler(seeds: int, steps: int):
        def run(rgb):
            predictor.set_image(rgb)
            if seeds == 1:
                predictor.predict(seed=0, steps=steps)
            else:
                predictor.predict_ensemble(k=seeds, steps=steps)
        return run
    if preset in args.extrapolate_samplers:
        # Every DDIM step is one U-Net call on the same batch: cost(n) = fixed + n * per_step.
        out["samplers_method"] = "extrapolated linearly from 1- and 10-step runs"
        for name, seeds, steps in (("ddim", 1, args.ddim_steps), ("ensemble", args.ensemble, args.ensemble_steps)):
            one = per_image(sampler(seeds, 1), sampler_images, warmup=False)
            ten = per_image(sampler(seeds, 10), sampler_images, warmup=False)
            out[name] = {k: one[k] + (ten[k] - one[k]) * (steps - 1) / 9.0 for k in one}
    else:
        out["samplers_method"] = "measured"
        out["ddim"] = per_image(sampler(1, args.ddim_steps), sampler_images, warmup=False)
        out["ensemble"] = per_image(sampler(args.ensemble, args.ensemble_steps), sampler_images, warmup=False)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def train_worker(args: argparse.Namespace, preset: str) -> dict:
    """The trainer's own step (forward, L1 loss, backward, clip, AdamW, EMA of both trainables) at batch --train-batch."""
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler

    import torch

    from leaf_core.io.dataset_folder import DatasetFolder
    from leaf_core.testing import write_synthetic_dataset
    from leaf_core.training import TrainConfig
    from leaf_core.training.pairs import MaskLatentCache, TrainingPairs
    from leaf_core.training.ema import TrainablesEMA
    from leaf_core.training.step import TrainingModules, train_step
    from leaf_core.training.trainer import resolve_defaults

    model = build(args, preset)
    resolution = model.config.resolution
    with tempfile.TemporaryDirectory(prefix="leaf-speed-") as folder:
        data = write_synthetic_dataset(Path(folder) / "data", size=(resolution, resolution), split_sizes=(args.train_batch, 0, 0))
        pairs = TrainingPairs.load(DatasetFolder(data), "train", resolution, show_progress=False)
        config = TrainConfig(data=data, run_dir=Path(folder) / "run", model_dir=Path(folder) / "model", preset=preset,
                             batch_size=args.train_batch, device="cpu")
        config = resolve_defaults(config, model)
    accelerator = Accelerator(cpu=args.device == "cpu")
    parameters = [*model.unet.parameters(), *model.image_encoder.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, weight_decay=0.01)
    lr_scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=0)
    unet, image_encoder, optimizer = accelerator.prepare(model.unet, model.image_encoder, optimizer)
    modules = TrainingModules(model, unet, image_encoder, parameters)
    model.train()
    model.mask_autoencoder.eval()
    ema = TrainablesEMA({"unet": model.unet, "image_encoder": model.image_encoder}, 0.9999, accelerator.device)
    cache = MaskLatentCache()

    def step(i: int) -> None:
        train_step(modules, pairs, config, accelerator, optimizer, lr_scheduler, cache, i)
        ema.step()
    step(0)  # warm-up; fills the mask-latent cache (the batch is the whole synthetic set)
    with timed() as clock:
        for i in range(1, 1 + args.train_steps):
            step(i)
    return {"train_step_s": clock.cpu_s / args.train_steps, "train_step_s_wall": clock.wall_s / args.train_steps,
            "train_batch": args.train_batch, "train_peak_rss_mb": peak_rss_mb(), "resolution": resolution}


def load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def run_child(args: argparse.Namespace, worker: str, preset: str, argv: list[str]) -> dict:
    """Run a worker in a fresh process (its own peak memory) and read its JSON from the last line."""
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", worker, "--preset", preset]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{worker} worker for {preset} failed:\n{completed.stderr[-3000:]}")
    for line in completed.stdout.splitlines():
        if not line.startswith("{"):
            print(line, flush=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def summarise(preset: str, infer: dict, train: dict, device: str) -> dict:
    single = infer["single_step"][infer["precision"]]
    best = infer["batches"][str(infer["best_batch"])] if str(infer["best_batch"]) in infer["batches"] else \
        infer["batches"][infer["best_batch"]]
    return {
        "single_step_s_per_image": single["cpu_s"],
        "ddim50_s_per_image": infer["ddim"]["cpu_s"],
        "ensemble5x100_s_per_image": infer["ensemble"]["cpu_s"],
        "train_step_s": train["train_step_s"],
        "peak_rss_mb": infer["peak_rss_mb"],
        "device": device,
        "resolution": infer["resolution"],
        # beyond the contract
        "precision": infer["precision"],
        "single_step_s_per_image_wall": single["wall_s"],
        "single_step_best_batch": int(infer["best_batch"]),
        "single_step_s_per_image_best_batch": best["cpu_s"],
        "single_step_s_per_image_before": infer["single_step"]["before"]["cpu_s"],
        "single_step_s_per_image_fp32_channels_last": infer["single_step"]["fp32"]["cpu_s"],
        "speedup_vs_before": infer["single_step"]["before"]["cpu_s"] / single["cpu_s"],
        "ddim50_over_single_step": infer["ddim"]["cpu_s"] / single["cpu_s"],
        "ensemble5x100_over_single_step": infer["ensemble"]["cpu_s"] / single["cpu_s"],
        "samplers_method": infer["samplers_method"],
        "train_step_s_wall": train["train_step_s_wall"],
        "train_batch": train["train_batch"],
        "train_peak_rss_mb": train["train_peak_rss_mb"],
        "target_single_step_s_per_image": TARGETS_S.get(preset),
        "parameters": infer["parameters"],
        "autoencoder": infer["autoencoder"],
        "single_step_gflop": infer["gflop"],
        "peak_gflops": infer["peak_gflops"],
        # No implementation at this precision can beat the work divided by the peak rate.
        "single_step_compute_bound_s": sum(infer["gflop"].values()) / infer["peak_gflops"],
    }


def print_table(results: dict) -> None:
    print(f"\n{'preset':<7} {'res':>4} {'prec':>5} {'before':>8} {'single':>8} {'best b':>12} {'ddim50':>8} "
          f"{'ens5x100':>9} {'train':>8} {'RSS MB':>7} {'trainRSS':>8}   (CPU s per image / per step, 1 thread)")
    for preset, r in results.items():
        print(f"{preset:<7} {r['resolution']:>4} {r['precision']:>5} {r['single_step_s_per_image_before']:8.3f} "
              f"{r['single_step_s_per_image']:8.3f} {r['single_step_s_per_image_best_batch']:7.3f} (b{r['single_step_best_batch']}) "
              f"{r['ddim50_s_per_image']:8.2f} {r['ensemble5x100_s_per_image']:9.2f} {r['train_step_s']:8.2f} "
              f"{r['peak_rss_mb']:7.0f} {r['train_peak_rss_mb']:8.0f}")


def main(argv: list[str] | None = None) -> dict:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    set_threads(args.threads)
    if args.worker is not None:
        result = (infer_worker if args.worker == "infer" else train_worker)(args, args.preset)
        print(json.dumps(result))
        return result
    import torch

    device = args.device if args.device != "cpu" else f"CPU: {machine()['cpu']}, {args.threads} thread(s)"
    if args.device.startswith("cuda"):
        device = f"GPU: {torch.cuda.get_device_name()}"
    # Presets measured by separate runs accumulate in one file (each keeps its own command in meta).
    results = load_json(args.out_dir / f"speed{args.tag}.json")
    meta = load_json(args.out_dir / f"speed{args.tag}_meta.json")
    raw_results = meta.get("raw", {})
    commands = meta.get("commands", {})
    for preset in args.presets:
        print(f"{preset}: inference", flush=True)
        infer = run_child(args, "infer", preset, raw)
        print(f"{preset}: training step", flush=True)
        train = run_child(args, "train", preset, raw)
        results[preset] = summarise(preset, infer, train, device)
        raw_results[preset] = {"infer": infer, "train": train}
        write_json(args.out_dir / f"speed{args.tag}.json", results)
    commands.update({preset: command_line(__file__, raw) for preset in args.presets})
    meta = {"command": command_line(__file__, raw), "commands": commands, "machine": machine(), "raw": raw_results,
            "notes": ["times are process CPU seconds with the stated threads; *_wall are wall seconds",
                      "paper preset without its kl-f8 weights offline: an untrained kl-f8 of the same architecture "
                      "(identical cost)"]}
    write_json(args.out_dir / f"speed{args.tag}_meta.json", meta)
    print_table(results)
    return results


if __name__ == "__main__":
    main()
