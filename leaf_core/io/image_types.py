"""What every reader returns: ``LoadedImage`` (pixels for the model and the screen) and its
``ImageMeta`` (where the image came from)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaf_core.io.windowing import apply_window


@dataclass(frozen=True)
class ImageMeta:
    """Where an image came from and what the rest of the product needs to know about it.

    ``width``/``height`` are the original size in pixels (after EXIF orientation). DICOM fields
    (modality, photometric_interpretation, pixel_spacing (row, column) in mm, UIDs) are None
    for other formats; ``number_of_frames``/``frame`` are filled for every format.
    """

    path: Path
    width: int
    height: int
    source_format: str
    bit_depth: int
    modality: str | None = None
    photometric_interpretation: str | None = None
    pixel_spacing: tuple[float, float] | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    number_of_frames: int = 1
    frame: int = 0


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for the model and the screen.

    rgb: HxWx3 uint8, the model input and default display.
    intensity: HxW float32 grey/modality values (after DICOM rescale), or None for colour.
    default_window: (center, width) in ``intensity`` units, or None for colour.
    meta: ImageMeta.
    """

    rgb: np.ndarray
    intensity: np.ndarray | None
    default_window: tuple[float, float] | None
    meta: ImageMeta

    @property
    def inverted(self) -> bool:
        """True for MONOCHROME1, whose low values are shown bright."""
        return self.meta.photometric_interpretation == "MONOCHROME1"

    def render(self, center: float, width: float) -> np.ndarray:
        """Re-window the grey values for display: HxWx3 uint8 (MONOCHROME1 stays inverted)."""
        if self.intensity is None:
            raise ValueError("a colour image has no intensity to re-window; use .rgb")
        return apply_window(self.intensity, center, width, invert=self.inverted)
