"""Read any image a clinician hands us: PNG, JPEG, TIFF, BMP and DICOM, by content.

``read_image(path, frame=None) -> LoadedImage`` looks at the file's first bytes (magic numbers,
:mod:`leaf_core.io.sniff`), not its extension, so a JPEG saved as ``.png`` still reads. DICOM
goes through :mod:`leaf_core.io.dicom`.

What the model gets (``LoadedImage.rgb``, HxWx3 uint8), the documented default:

- colour images: the stored colours (16-bit colour scaled by 255/65535), alpha dropped,
  CMYK converted, the EXIF orientation applied;
- 8-bit grey: the stored values, replicated to three channels (window 128/256 = identity);
- grey deeper than 8 bits (16-bit PNG/TIFF, float TIFF): the robust window
  ``AUTO_PERCENTILES`` (0.5th to 99.5th percentile of the image; min-max when that is flat),
  while ``intensity`` keeps the full range for re-windowing;
- DICOM: see :mod:`leaf_core.io.dicom` (the file's own VOI LUT, else its first window,
  else the robust window above), MONOCHROME1 inverted so that dense is bright.

Limits: images above ``MAX_IMAGE_PIXELS`` (150 megapixels per frame, about 12000x12500) are
refused with an ``InputFileError`` before anything is decoded. A 6000x4000 RGB photo costs its
72 MB of uint8 plus one transient copy; colour images carry no float copy at all, grey ones one
float32 ``intensity``.

Frames: ``frame`` picks a frame of a multi-frame DICOM or a page of a multi-page TIFF; the
default is the first (index 0), and ``meta.frame`` / ``meta.number_of_frames`` say which.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from leaf_core.errors import InputFileError
from leaf_core.io.sniff import sniff_format

MAX_IMAGE_PIXELS = 150_000_000
AUTO_PERCENTILES = (0.5, 99.5)
SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")

# CT presets in Hounsfield units; None means computed from the image (window_for_preset).
WINDOW_PRESETS: dict[str, tuple[float, float] | None] = {
    "Default": None,
    "Full range": None,
    "Auto (0.5-99.5 %)": None,
    "Lung": (-600.0, 1500.0),
    "Mediastinum": (50.0, 350.0),
    "Abdomen": (40.0, 400.0),
    "Bone": (400.0, 1800.0),
    "Brain": (40.0, 80.0),
}

_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff", "BMP": "bmp", "DIB": "bmp"}
_EXIF_ORIENTATION_TAG = 0x0112


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


@dataclass(frozen=True)
class DecodedPixels:
    """Pixels of one raster frame as stored (before windowing).

    array: HxW (grey) or HxWx3 (RGB) in uint8, uint16 or float32.
    """

    array: np.ndarray
    source_format: str
    bit_depth: int
    number_of_frames: int
    frame: int


def apply_window(intensity: np.ndarray, center: float, width: float, invert: bool = False) -> np.ndarray:
    """Linear window (DICOM PS3.3 C.11.2.1.2) of HxW values to HxWx3 uint8 in [0, 255].

    Values below ``center - width/2`` go to 0, above ``center + width/2`` to 255; ``invert``
    flips the result (MONOCHROME1). Uses one float32 working copy, never float64.
    """
    width = max(float(width), 1.0)
    scaled = np.asarray(intensity, dtype=np.float32) - np.float32(center - 0.5)
    scaled /= np.float32(width - 1.0 if width > 1.0 else 1.0)
    scaled += np.float32(0.5)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled *= np.float32(255.0)
    grey = np.rint(scaled, out=scaled).astype(np.uint8)
    if invert:
        np.subtract(255, grey, out=grey)
    return np.repeat(grey[:, :, None], 3, axis=2)


def robust_window(intensity: np.ndarray) -> tuple[float, float]:
    """(center, width) spanning the ``AUTO_PERCENTILES`` of the values; min-max when flat."""
    sample = intensity[:: max(1, intensity.shape[0] // 1024), :: max(1, intensity.shape[1] // 1024)]
    low, high = (float(v) for v in np.percentile(sample, AUTO_PERCENTILES))
    if high <= low:
        low, high = float(intensity.min()), float(intensity.max())
    return full_range_window(low, high)


def full_range_window(low: float, high: float) -> tuple[float, float]:
    """(center, width) whose window maps ``low`` to 0 and ``high`` to 255."""
    width = max(high - low + 1.0, 1.0)
    return low + width / 2.0, width


def window_for_preset(name: str, image: LoadedImage) -> tuple[float, float]:
    """The (center, width) of a ``WINDOW_PRESETS`` entry for this image."""
    if name not in WINDOW_PRESETS:
        raise ValueError(f"unknown window preset {name!r}; expected one of {list(WINDOW_PRESETS)}")
    if image.intensity is None:
        raise ValueError("a colour image has no window")
    fixed = WINDOW_PRESETS[name]
    if fixed is not None:
        return fixed
    if name == "Default" and image.default_window is not None:
        return image.default_window
    if name == "Full range":
        return full_range_window(float(image.intensity.min()), float(image.intensity.max()))
    return robust_window(image.intensity)


def check_pixel_limit(path: Path, width: int, height: int) -> None:
    """Refuse images above ``MAX_IMAGE_PIXELS`` before decoding them."""
    if width <= 0 or height <= 0:
        raise InputFileError(path, f"invalid image size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputFileError(
            path,
            f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), above the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f}-megapixel limit",
        )


def _open_pil(path: Path) -> Image.Image:
    """Open lazily (header only), converting PIL's failures to InputFileError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise InputFileError(path, f"image too large ({error})") from None
    except UnidentifiedImageError:
        raise InputFileError(path, "corrupt or unrecognised image data") from None
    except Exception as error:  # PIL raises many types on damaged headers
        raise InputFileError(path, f"corrupt image header ({type(error).__name__}: {error})") from None
    return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) after the EXIF orientation is applied."""
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block only loses the orientation
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image from its header only (EXIF orientation applied)."""
    path = Path(path)
    if sniff_format(path) == "dicom":
        from leaf_core.io.dicom import dicom_size  # dicom imports this module

        return dicom_size(path)
    with _open_pil(path) as image:
        width, height = _oriented_size(image)
    return height, width


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """HxW or HxWx3 array (uint8, uint16 or float32) of a decoded PIL image."""
    mode = image.mode
    if mode in ("1", "L", "LA", "La") or mode.startswith("I;16"):
        grey = image if mode.startswith("I;16") else image.convert("L")
        array = np.asarray(grey)
        return array.astype(np.uint16) if mode.startswith("I;16") else array
    if mode == "I":
        array = np.asarray(image)
        if array.min() >= 0 and array.max() <= 65535:
            return array.astype(np.uint16)
        return array.astype(np.float32)
    if mode == "F":
        return np.asarray(image, dtype=np.float32)
    # convert() copies even when the mode already matches; skip it for the common RGB case
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))


def _decode_with_pil(path: Path, frame: int | None) -> DecodedPixels:
    with _open_pil(path) as image:
        source_format = _PIL_FORMATS.get(image.format or "")
        if source_format is None:
            raise InputFileError(path, f"unsupported image type {image.format}")
        try:  # damaged files fail anywhere from counting frames to decoding, with many types
            n_frames = int(getattr(image, "n_frames", 1))
            index = check_frame(path, frame, n_frames)
            width, height = image.size
            check_pixel_limit(path, width, height)
            if index:
                image.seek(index)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            array = _pil_to_array(image)
        except InputFileError:
            raise
        except Exception as error:
            raise InputFileError(path, f"corrupt or truncated image data ({type(error).__name__}: {error})") from None
        return DecodedPixels(array, source_format, _pil_bit_depth(image), n_frames, index)


def _pil_bit_depth(image: Image.Image) -> int:
    if image.mode == "1":
        return 1
    if image.mode.startswith("I;16"):
        return 16
    if image.mode in ("I", "F"):
        return 32
    return 8


def check_frame(path: Path, frame: int | None, n_frames: int) -> int:
    """The 0-based frame to read: ``frame`` or 0, checked against ``n_frames``."""
    index = 0 if frame is None else int(frame)
    if not 0 <= index < n_frames:
        raise InputFileError(path, f"frame {index} out of range: the file has {n_frames} frame(s), 0 to {n_frames - 1}")
    return index


def decode_pixels(path: str | Path, frame: int | None = None) -> DecodedPixels:
    """Stored pixels of one frame of a raster image (PNG, JPEG, TIFF, BMP), EXIF-oriented.

    Raises InputFileError for DICOM (use read_image) and for anything unreadable.
    """
    path = Path(path)
    source_format = sniff_format(path)
    if source_format == "dicom":
        raise InputFileError(path, "is a DICOM file, not a raster image")
    try:
        return _decode_with_pil(path, frame)
    except InputFileError:
        if source_format != "tiff":
            raise
        return _decode_with_tifffile(path, frame)


def _decode_with_tifffile(path: Path, frame: int | None) -> DecodedPixels:
    """TIFFs PIL cannot decode (16-bit RGB, unusual layouts) via tifffile."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            index = check_frame(path, frame, len(tif.pages))
            page = tif.pages[index]
            height, width = page.shape[0], page.shape[1]
            check_pixel_limit(path, width, height)
            array = page.asarray()
            bits = int(page.bitspersample)
    except InputFileError:
        raise
    except Exception as error:
        raise InputFileError(path, f"corrupt or unsupported TIFF ({type(error).__name__}: {error})") from None
    if array.ndim == 3 and array.shape[2] >= 3:
        array = array[:, :, :3]
    elif array.ndim != 2:
        raise InputFileError(path, f"unsupported TIFF layout (array shape {array.shape})")
    if array.dtype.kind == "f" or array.dtype.itemsize > 2:
        array = array.astype(np.float32)
    return DecodedPixels(np.ascontiguousarray(array), "tiff", bits, len(tif.pages), index)


def colour_to_uint8(array: np.ndarray, bits_stored: int | None = None) -> np.ndarray:
    """HxWx3 colour to uint8 [0, 255]: integers scaled from [0, 2**bits_stored - 1] (default:
    the dtype's range), floats from their min-max."""
    if array.dtype == np.uint8 and bits_stored in (None, 8):
        return array
    if array.dtype.kind in "ui":
        top = float(2 ** (bits_stored or 8 * array.dtype.itemsize) - 1)
        low = 0.0
    else:
        low, top = float(array.min()), float(array.max())
    scaled = array.astype(np.float32)
    scaled -= np.float32(low)
    scaled *= np.float32(255.0 / max(top - low, 1e-12))
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.uint8)


def read_image(path: str | Path, frame: int | None = None) -> LoadedImage:
    """Read an image for the model and the screen; see the module docstring for the defaults.

    Raises InputFileError naming the file and the problem for anything it cannot read.
    """
    path = Path(path)
    if sniff_format(path) == "dicom":
        from leaf_core.io.dicom import read_dicom  # dicom imports this module

        return read_dicom(path, frame)
    pixels = decode_pixels(path, frame)
    array = pixels.array
    height, width = array.shape[:2]
    meta = ImageMeta(
        path=path,
        width=width,
        height=height,
        source_format=pixels.source_format,
        bit_depth=pixels.bit_depth,
        number_of_frames=pixels.number_of_frames,
        frame=pixels.frame,
    )
    if array.ndim == 3:
        return LoadedImage(np.ascontiguousarray(colour_to_uint8(array)), None, None, meta)
    intensity = array.astype(np.float32)
    window = full_range_window(0.0, 255.0) if array.dtype == np.uint8 else robust_window(intensity)
    return LoadedImage(apply_window(intensity, *window), intensity, window, meta)


def list_images(folder: str | Path) -> list[Path]:
    """Supported image files directly inside ``folder`` (not recursive), sorted by name.

    Hidden files (starting with '.') are left out. Selection is by extension; content is
    checked when each file is read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "not a folder")
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_SUFFIXES
    )


@dataclass(frozen=True)
class SkippedFile:
    """A file a folder-level helper could not use, and why."""

    path: Path
    problem: str


def summarize_skipped(skipped: list[SkippedFile]) -> str:
    """One line per skipped file, headed by the count; '' when nothing was skipped."""
    if not skipped:
        return ""
    lines = [f"skipped {len(skipped)} file(s):"] + [f"  {s.path}: {s.problem}" for s in skipped]
    return "\n".join(lines)


def read_images(paths: Iterable[str | Path]) -> tuple[list[LoadedImage], list[SkippedFile]]:
    """Read many images, continuing past broken ones: (loaded, skipped) in input order."""
    loaded: list[LoadedImage] = []
    skipped: list[SkippedFile] = []
    for path in paths:
        try:
            loaded.append(read_image(path))
        except InputFileError as error:
            skipped.append(SkippedFile(error.path, error.problem))
    return loaded, skipped
