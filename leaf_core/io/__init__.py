"""One I/O layer for the engine and the app: images, masks, DICOM SEG, de-identification, datasets."""

from leaf_core.io.dataset_folder import DatasetFolder, make_split, write_splits
from leaf_core.io.deidentify import deidentify_dataset, deidentify_dicom
from leaf_core.io.dicom import read_dataset, read_dicom
from leaf_core.io.dicom_seg import write_dicom_seg
from leaf_core.io.folders import IMAGE_SUFFIXES, SkippedFile, list_images, read_images, summarize_skipped
from leaf_core.io.image_types import ImageMeta, LoadedImage
from leaf_core.io.images import image_size, read_image
from leaf_core.io.importers import IMPORTERS, ImportSummary, import_dataset
from leaf_core.io.limits import MAX_IMAGE_PIXELS
from leaf_core.io.masks import read_mask, write_label_map_png, write_mask_png, write_masks
from leaf_core.io.sniff import is_dicom
from leaf_core.io.window_presets import WINDOW_PRESETS, window_for_preset
from leaf_core.io.windowing import apply_window, robust_window

__all__ = [
    "DatasetFolder",
    "IMAGE_SUFFIXES",
    "IMPORTERS",
    "ImageMeta",
    "ImportSummary",
    "LoadedImage",
    "MAX_IMAGE_PIXELS",
    "SkippedFile",
    "WINDOW_PRESETS",
    "apply_window",
    "deidentify_dataset",
    "deidentify_dicom",
    "image_size",
    "import_dataset",
    "is_dicom",
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
