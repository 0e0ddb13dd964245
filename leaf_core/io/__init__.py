"""One I/O layer for the engine and the app: images, masks, DICOM SEG, de-identification, datasets."""

from leaf_core.io.dataset_folder import DatasetFolder, make_split, write_splits
from leaf_core.io.deidentify import deidentify_dataset, deidentify_dicom
from leaf_core.io.dicom import read_dataset, read_dicom
from leaf_core.io.dicom_seg import write_dicom_seg
from leaf_core.io.images import (
    MAX_IMAGE_PIXELS,
    SUPPORTED_SUFFIXES,
    WINDOW_PRESETS,
    ImageMeta,
    LoadedImage,
    SkippedFile,
    apply_window,
    image_size,
    list_images,
    read_image,
    read_images,
    robust_window,
    summarize_skipped,
    window_for_preset,
)
from leaf_core.io.importers import IMPORTERS, ImportSummary, import_dataset
from leaf_core.io.masks import read_mask, write_label_map_png, write_mask_png, write_masks

__all__ = [
    "DatasetFolder",
    "IMPORTERS",
    "ImageMeta",
    "ImportSummary",
    "LoadedImage",
    "MAX_IMAGE_PIXELS",
    "SUPPORTED_SUFFIXES",
    "SkippedFile",
    "WINDOW_PRESETS",
    "apply_window",
    "deidentify_dataset",
    "deidentify_dicom",
    "image_size",
    "import_dataset",
    "list_images",
    "make_split",
    "read_dataset",
    "read_dicom",
    "read_image",
    "read_images",
    "read_mask",
    "robust_window",
    "summarize_skipped",
    "window_for_preset",
    "write_dicom_seg",
    "write_label_map_png",
    "write_mask_png",
    "write_masks",
    "write_splits",
]
