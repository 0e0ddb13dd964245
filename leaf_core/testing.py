"""Tiny models and data sets for tests and demos: built from configs, saved and loaded like real ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import torch
from diffusers import AutoencoderTiny

from leaf_core.model.config import LeafConfig, ModelCard
from leaf_core.model.image_encoder import ImageEncoder
from leaf_core.model.leaf_model import LeafModel
from leaf_core.model.unet import UNetSpec, build_unet

TINY_RESOLUTION = 64
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def build_tiny_model(seed: int = 0, prediction_type: str = "sample") -> LeafModel:
    """A random LEAF model of a few hundred thousand parameters at 64x64 (deterministic per seed)."""
    torch.manual_seed(seed)
    autoencoder = AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    )
    unet = build_unet(UNetSpec(sample_size=TINY_RESOLUTION // 8, block_out_channels=(32, 64),
                               attention_levels=(False, True), layers_per_block=1,
                               num_attention_heads=2, norm_num_groups=8))
    config = LeafConfig(resolution=TINY_RESOLUTION, prediction_type=prediction_type)
    card = ModelCard(name="tiny test model", version="1", preset="tiny")
    return LeafModel(autoencoder, ImageEncoder.from_autoencoder(autoencoder), unet, config, card)


def o1_scale_tensor(name: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """A random parameter of O(1) scale: matrices and kernels randn / sqrt(fan_in), norm scales
    1 + 0.1 randn, biases 0.1 randn. Outputs then spread over the whole range (default or
    0.02-scale weights leave every output near one value, where a clamp or a sign never shows)."""
    noise = torch.randn(shape, generator=generator)
    if len(shape) >= 2:
        return noise / math.sqrt(math.prod(shape[1:]))
    if name.endswith("weight"):
        return 1.0 + 0.1 * noise
    return 0.1 * noise


def randomize_weights(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter of ``module`` replaced in place by ``o1_scale_tensor``."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.copy_(o1_scale_tensor(name, tuple(parameter.shape), generator))
    return module


def save_tiny_model(model_dir: str | Path, seed: int = 0, prediction_type: str = "sample") -> Path:
    """Save a tiny random model folder and return its path."""
    return build_tiny_model(seed, prediction_type).save_pretrained(model_dir)


def write_synthetic_dataset(root: Path, n: int = 8, size: tuple[int, int] = (80, 96), seed: int = 0,
                            split_sizes: tuple[int, int, int] | None = None) -> Path:
    """Images with one bright disc on a dark textured background; the mask is the disc.

    Sizes differ from the model's resolution on purpose, so resizing in and out is exercised.
    ``split_sizes`` (train, val, test) overrides ``n``, whose split is n - 3 / 2 / 1.
    """
    split_sizes = split_sizes or (n - 3, 2, 1)
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    height, width = size
    margin = min(20, height // 4, width // 4)
    yy, xx = np.mgrid[:height, :width]
    ids = []
    for i in range(sum(split_sizes)):
        cy, cx = rng.integers(margin, height - margin), rng.integers(margin, width - margin)
        r = rng.integers(min(8, margin // 2), min(18, margin))
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        image = rng.integers(0, 60, size=(height, width, 3)).astype(np.uint8)
        image[mask] = [220, 120, 90]
        image_id = f"case{i:02d}"
        Image.fromarray(image).save(root / "images" / f"{image_id}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{image_id}.png")
        ids.append(image_id)
    n_train, n_val, _ = split_sizes
    splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
    (root / "splits.json").write_text(json.dumps(splits))
    return root


def dicom_dataset(
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    sop_class: str = SECONDARY_CAPTURE,
    frames: int | None = None,
    **attributes: object,
) -> Dataset:
    """A complete DICOM image with a patient, study and series, holding ``pixels`` uncompressed.

    pixels: HxW, HxWx3, FxHxW or FxHxWx3 (``frames`` says the first axis is frames).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-12345"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101010"
    ds.AccessionNumber = "ACC999"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Modality = "OT"
    ds.Manufacturer = "Test"
    ds.ConversionType = "WSD"
    ds.set_pixel_data(pixels, photometric, int(pixels.dtype.itemsize * 8))
    if frames is not None:
        ds.NumberOfFrames = frames
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def save_dicom(ds: Dataset, path: Path) -> Path:
    """Write a dataset as a DICOM file (with preamble and file meta)."""
    ds.save_as(path, enforce_file_format=True)
    return path
