"""Read any image a clinician hands us: PNG, JPEG, TIFF, BMP and DICOM, by content.

``read_image(path, frame=None) -> LoadedImage`` is the one entry point: it looks at the file's
first bytes (:mod:`leaf_core.io.sniff`), not its extension, so a JPEG saved as ``.png`` still
reads, and sends DICOM to :mod:`leaf_core.io.dicom` and the rest to :mod:`leaf_core.io.raster`.

What the model gets (``LoadedImage.rgb``, HxWx3 uint8), the documented default:

- colour images: the stored colours (16-bit colour scaled by 255/65535), alpha dropped,
  CMYK converted, the EXIF orientation applied;
- 8-bit grey: the stored values, replicated to three channels (window 128/256 = identity);
- grey deeper than 8 bits (16-bit PNG/TIFF, float TIFF): the robust window
  ``AUTO_PERCENTILES`` (0.5th to 99.5th percentile of the image; min-max when that is flat),
  while ``intensity`` keeps the full range for re-windowing;
- DICOM: see :mod:`leaf_core.io.dicom` (the file's own VOI LUT, else its first window,
  else the robust window above), MONOCHROME1 inverted so that dense is bright.

Limits (:mod:`leaf_core.io.limits`): images above 150 megapixels per frame, and images whose
decoding would pass the memory budget, are refused with an ``InputFileError`` before anything
is decoded. A 6000x4000 RGB photo costs its 72 MB of uint8 plus Pillow's buffer; colour images
carry no float copy at all, grey ones one float32 ``intensity``.

Frames: ``frame`` picks a frame of a multi-frame DICOM or a page of a multi-page TIFF; the
default is the first (index 0), and ``meta.frame`` / ``meta.number_of_frames`` say which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leaf_core.io.dicom import dicom_size, read_dicom
from leaf_core.io.image_types import ImageMeta, LoadedImage
from leaf_core.io.raster import decode_pixels, raster_size
from leaf_core.io.sniff import sniff_format
from leaf_core.io.windowing import apply_window, colour_to_uint8, full_range_window, robust_window


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image from its header only (EXIF orientation applied)."""
    return dicom_size(path) if sniff_format(path) == "dicom" else raster_size(path)


def read_image(path: str | Path, frame: int | None = None) -> LoadedImage:
    """Read an image for the model and the screen; see the module docstring for the defaults.

    Raises InputFileError naming the file and the problem for anything it cannot read.
    """
    path = Path(path)
    if sniff_format(path) == "dicom":
        return read_dicom(path, frame)
    pixels = decode_pixels(path, frame)
    height, width = pixels.array.shape[:2]
    meta = ImageMeta(
        path=path,
        width=width,
        height=height,
        source_format=pixels.source_format,
        bit_depth=pixels.bit_depth,
        number_of_frames=pixels.number_of_frames,
        frame=pixels.frame,
    )
    if pixels.array.ndim == 3:
        return LoadedImage(colour_to_uint8(pixels.array), None, None, meta)
    stored_is_8bit = pixels.array.dtype == np.uint8
    intensity = pixels.array.astype(np.float32)
    del pixels  # the stored array goes before the rgb is built
    window = full_range_window(0.0, 255.0) if stored_is_8bit else robust_window(intensity)
    return LoadedImage(apply_window(intensity, *window), intensity, window, meta)
