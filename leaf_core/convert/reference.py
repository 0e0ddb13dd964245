"""Import the reference LEAF code's pipeline folder (a local folder or a hub id) as our model folder.

    model_index.json
    unet/ (or unet_ema/, preferred)   openaimodel UNetModel config.json + weights
    vae/                              CompVis AutoencoderKL config.json + weights  -> mask_autoencoder/
    latent_encoder/                   CompVis encoder + quant_conv                 -> image_encoder/
    scheduler/scheduler_config.json   diffusers DDIMScheduler                      -> leaf_config.json (schedule,
                                      parameterization, clip_sample, spacing, final alpha: all kept)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import DDIMScheduler

from leaf_core.convert.ldm_autoencoder import LATENT_SCALE, autoencoder_from_ldm, diffusers_config_from_ldm, image_encoder_from_ldm
from leaf_core.convert.ldm_unet import spec_from_openaimodel_config, unet_from_openaimodel
from leaf_core.convert.tensor_rules import ConversionError
from leaf_core.convert.weights_files import load_state_dict_file, sha256_of
from leaf_core.errors import ModelLoadError
from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.parameterization import NoiseScheduleConfig
from leaf_core.model.presets import get_preset
from leaf_core.model.unet import UNetSpec

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
PARTS = ("unet", "unet_ema", "vae", "latent_encoder", "scheduler")


@dataclass
class ImportSource:
    """Where imported weights came from, as the model card records it."""

    kind: str
    given: str
    revision: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # path relative to the source -> sha256
    used: dict[str, str] = field(default_factory=dict)  # our component -> the source part it came from

    def record(self, files: list[Path], root: Path | None = None) -> None:
        """Hash each file, named relative to ``root`` (a pipeline folder) or as given."""
        for path in files:
            self.files[path.relative_to(root).as_posix() if root else str(path)] = sha256_of(path)

    def as_card_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"format": self.kind, "from": self.given}
        if self.revision:
            entry["revision"] = self.revision
        entry["components"] = dict(self.used)
        entry["sha256"] = dict(self.files)
        return entry


def resolve_reference(source: str | Path) -> tuple[Path, str | None]:
    """(local folder, hub revision or None) for a folder path or a hub id such as pearisli/LEAF-QaTa-COV19."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(path, "is a file; expected a reference pipeline folder (unet/, vae/, latent_encoder/, scheduler/)")
        return path, None
    if not HUB_ID.fullmatch(str(source)):
        raise ModelLoadError(path, "no such folder, and not a hub id of the form owner/name")
    from huggingface_hub import snapshot_download

    patterns = ["model_index.json"] + [f"{p}/*.json" for p in PARTS] + [f"{p}/*.safetensors" for p in PARTS]
    try:
        folder = Path(snapshot_download(str(source), allow_patterns=patterns))
        missing = [p for p in PARTS if (folder / p).is_dir() and not any((folder / p).glob("*.safetensors"))]
        if missing:  # only pickled weights there: fetch those (read with weights_only=True)
            folder = Path(snapshot_download(str(source), allow_patterns=patterns + [f"{p}/*.bin" for p in missing]))
    except Exception as error:  # offline, unknown repo, no access: huggingface_hub has many error types
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelLoadError(source, f"not a local folder, and the hub could not provide it ({first}). "
                                     "Check the network, or download it and pass the folder.") from error
    revision = folder.name if folder.parent.name == "snapshots" else None
    return folder, revision


def read_part(folder: Path) -> tuple[dict[str, torch.Tensor], list[Path]]:
    """All tensors of one pipeline part: its .safetensors files, or else its pickled .bin files."""
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise ModelLoadError(folder, "no weights (.safetensors or .bin)")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        part = load_state_dict_file(path)
        twice = set(part) & set(state)
        if twice:
            raise ModelLoadError(path, f"repeats tensor {sorted(twice)[0]} of another file of the same part")
        state.update(part)
    return state, files


def read_json(*candidates: Path) -> dict[str, Any]:
    for path in candidates:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError as error:
                raise ModelLoadError(path, f"unreadable JSON ({error})") from error
    raise ModelLoadError(candidates[0].parent, f"no {candidates[0].name}")


def leaf_config_from_scheduler(scheduler: dict[str, Any], resolution: int) -> LeafConfig:
    """Our LeafConfig from a diffusers DDIMScheduler config, read as diffusers reads it (absent keys
    take DDIMScheduler's defaults), so the imported model samples as the authors' pipeline does:
    their clamp of x0 (clip_sample), timestep spacing and final alpha come along."""
    if scheduler.get("trained_betas") is not None:
        raise ConversionError("a scheduler with trained_betas is not supported")
    settings = DDIMScheduler.from_config(scheduler).config
    for unsupported in ("thresholding", "rescale_betas_zero_snr"):
        if settings.get(unsupported):
            raise ConversionError(f"a scheduler with {unsupported} is not supported")
    try:
        schedule = NoiseScheduleConfig(
            num_train_timesteps=int(settings.num_train_timesteps),
            beta_schedule=str(settings.beta_schedule),
            beta_start=float(settings.beta_start),
            beta_end=float(settings.beta_end),
            clip_sample=bool(settings.clip_sample),
            clip_sample_range=float(settings.clip_sample_range),
            timestep_spacing=str(settings.timestep_spacing),
            set_alpha_to_one=bool(settings.set_alpha_to_one),
            steps_offset=int(settings.steps_offset),
        )
        return LeafConfig(resolution=resolution, prediction_type=str(settings.prediction_type), schedule=schedule)
    except ValueError as error:
        raise ConversionError(str(error)) from error


def preset_name_of(spec: UNetSpec) -> str:
    """'paper' when the U-Net is the paper preset's (dropout aside), else 'custom'."""
    paper = get_preset("paper").unet_spec(latent_channels=spec.latent_channels)
    same = (spec.block_out_channels, spec.attention_levels, spec.layers_per_block, spec.num_attention_heads,
            spec.sample_size) == (paper.block_out_channels, paper.attention_levels, paper.layers_per_block,
                                  paper.num_attention_heads, paper.sample_size)
    return "paper" if same else "custom"


def _converted(folder: Path, build, *args):
    try:
        return build(*args)
    except ConversionError as error:
        raise ModelLoadError(folder, f"does not convert exactly: {error}") from error
    except KeyError as error:
        raise ModelLoadError(folder, f"its config lacks {error}") from error


IMPORT_STAGES = ("fetching the pipeline", "converting the U-Net", "converting the mask autoencoder",
                 "converting the image encoder", "writing the model folder")


def import_reference(source: str | Path, out_dir: str | Path, name: str | None = None,
                     task: str | None = None, on_stage: Callable[[int, str], None] | None = None) -> LeafModel:
    """Convert a reference LeafPipeline folder or hub id into a model folder at ``out_dir``.

    on_stage(index, label) is called as each of ``IMPORT_STAGES`` begins (for progress bars).
    """
    report = on_stage or (lambda index, label: None)
    report(0, IMPORT_STAGES[0])
    root, revision = resolve_reference(source)
    origin = ImportSource("reference LeafPipeline", str(source), revision)
    unet_part = "unet_ema" if (root / "unet_ema").is_dir() else "unet"
    for part in (unet_part, "vae", "latent_encoder", "scheduler"):
        if not (root / part).is_dir():
            raise ModelLoadError(root, f"not a reference LEAF pipeline folder (no {part}/)")

    unet_config = read_json(root / unet_part / "config.json", root / "unet" / "config.json")
    spec = _converted(root / unet_part, spec_from_openaimodel_config, unet_config)
    vae_config = _converted(root / "vae", diffusers_config_from_ldm, read_json(root / "vae" / "config.json"), LATENT_SCALE)
    encoder_config = _converted(root / "latent_encoder", diffusers_config_from_ldm,
                                read_json(root / "latent_encoder" / "config.json"), LATENT_SCALE)
    scheduler_config = read_json(root / "scheduler" / "scheduler_config.json", root / "scheduler" / "config.json")
    resolution = spec.sample_size * 2 ** (len(vae_config["block_out_channels"]) - 1)
    config = _converted(root / "scheduler", leaf_config_from_scheduler, scheduler_config, resolution)

    report(1, IMPORT_STAGES[1])
    unet_state, files = read_part(root / unet_part)
    origin.record(files, root)
    unet = _converted(root / unet_part, unet_from_openaimodel, unet_state, spec)
    del unet_state
    report(2, IMPORT_STAGES[2])
    vae_state, files = read_part(root / "vae")
    origin.record(files, root)
    autoencoder = _converted(root / "vae", autoencoder_from_ldm, vae_state, vae_config)
    del vae_state
    report(3, IMPORT_STAGES[3])
    encoder_state, files = read_part(root / "latent_encoder")
    origin.record(files, root)
    image_encoder = _converted(root / "latent_encoder", image_encoder_from_ldm, encoder_state, encoder_config)
    origin.record([p for p in (root / "model_index.json", root / "scheduler" / "scheduler_config.json") if p.exists()], root)
    origin.used = {"unet": f"{unet_part}/", "mask_autoencoder": "vae/", "image_encoder": "latent_encoder/",
                   "leaf_config": "scheduler/"}

    label = str(source).rstrip("/").split("/")[-1]
    card = ModelCard(
        name=name or f"{label} (imported)",
        preset=preset_name_of(spec),
        task=task,
        autoencoder=f"kl-f8 from the reference vae/ of {source}",
        alignment="unknown (trained by the reference code)",
        source=origin.as_card_entry(),
        notes=[f"Imported from the reference LEAF pipeline {source} by `leaf import-weights --from reference`"
               f" ({unet_part}/ used for the U-Net)."],
    )
    report(4, IMPORT_STAGES[4])
    model = LeafModel(autoencoder, image_encoder, unet, config, card)
    model.eval()
    model.save_pretrained(out_dir)
    log.info("imported %s into %s", source, out_dir)
    return model
