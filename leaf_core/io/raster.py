"""Raster images (PNG, JPEG, TIFF, BMP): header, limits, then the stored pixels of one frame.

Pillow decodes them; TIFFs Pillow cannot decode right (16-bit colour, other layouts) go to
tifffile, which knows every TIFF layout (planar configuration 2 included: samples are moved
last, HxWxS). The memory a decode takes is worked out from the header first and checked
against ``limits.MEMORY_BUDGET_BYTES``; buffers are released as soon as the next one exists.
EXIF orientation is applied to the numpy array (a view and one copy), not by Pillow (which
would hold a second full image).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from leaf_core.errors import InputFileError
from leaf_core.io import limits
from leaf_core.io.sniff import sniff_format
from leaf_core.io.windowing import row_blocks

_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff", "BMP": "bmp", "DIB": "bmp"}
_EXIF_ORIENTATION_TAG = 0x0112
# Pillow keeps 1 byte per pixel for these modes, 2 for 16-bit grey, 4 for every other mode
_PIL_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_GREY_MODES = ("1", "L", "LA", "La")


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


def _open_pil(path: Path) -> Image.Image:
    """Open lazily (header only), converting Pillow's failures to InputFileError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise InputFileError(path, f"image too large ({error})") from None
    except UnidentifiedImageError:
        raise InputFileError(path, "corrupt or unrecognised image data") from None
    except Exception as error:  # Pillow raises many types on damaged headers
        raise InputFileError(path, f"corrupt image header ({type(error).__name__}: {error})") from None
    return image


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8); 1 when absent or damaged."""
    try:
        value = int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block only loses the orientation
        return 1
    return value if 1 <= value <= 8 else 1


def _oriented(array: np.ndarray, orientation: int) -> np.ndarray:
    """The array as displayed under an EXIF orientation (as Pillow's exif_transpose)."""
    if orientation == 1:
        return array
    transposed = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }[orientation](array)
    return np.ascontiguousarray(transposed)


def raster_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of a raster image from its header only (EXIF orientation applied)."""
    path = Path(path)
    with _open_pil(path) as image:
        width, height = image.size
        return (width, height) if _orientation(image) in (5, 6, 7, 8) else (height, width)


def _pil_target_mode(mode: str) -> str | None:
    """The mode to convert to before reading into numpy, or None to read as it is."""
    if mode.startswith("I;16") or mode in ("L", "I", "F", "RGB"):
        return None
    return "L" if mode in _GREY_MODES else "RGB"


def _numpy_pixel_bytes(mode: str) -> int:
    """Bytes per pixel of the numpy array read from a Pillow image of ``mode`` (at most)."""
    return {"L": 1, "RGB": 3}.get(mode, 2 if mode.startswith("I;16") else 4)


def _pil_peak_bytes(mode: str, target: str | None, pixels: int) -> int:
    """Peak bytes of a Pillow read: the decoded image beside its converted copy, then the
    converted image beside the numpy array, then (grey) the array beside the float32
    intensity, and the intensity beside the HxWx3 rgb."""
    decoded = _PIL_PIXEL_BYTES.get(mode, 4)
    converted = _PIL_PIXEL_BYTES.get(target, 4) if target else 0
    array = _numpy_pixel_bytes(target or mode)
    if (target or mode) == "RGB":
        after = array  # the array is the rgb
    else:
        after = max(array, limits.RGB_BYTES_PER_PIXEL) + limits.INTENSITY_BYTES_PER_PIXEL
    return pixels * max(decoded + converted, (converted or decoded) + array, after)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """HxW or HxWx3 array (uint8, uint16 or float32) of a decoded Pillow image in a target mode.

    Copied in row blocks: numpy's view of a whole Pillow image goes through ``tobytes``, which
    holds the pixels twice more while it joins them.
    """
    width, height = image.size
    mode = image.mode
    if mode == "I":
        low, high = image.getextrema()
        dtype: type = np.uint16 if low >= 0 and high <= 65535 else np.float32
    else:
        dtype = np.float32 if mode == "F" else np.uint16 if mode.startswith("I;16") else np.uint8
    channels = 3 if mode == "RGB" else 1
    array = np.empty((height, width, 3) if channels == 3 else (height, width), dtype=dtype)
    for rows in row_blocks(height, width * channels):
        stop = min(rows.stop, height)
        array[rows.start : stop] = np.asarray(image.crop((0, rows.start, width, stop)))
    return array


def _pil_bit_depth(mode: str) -> int:
    if mode == "1":
        return 1
    if mode.startswith("I;16"):
        return 16
    return 32 if mode in ("I", "F") else 8


def _decode_with_pil(path: Path, frame: int | None) -> DecodedPixels:
    with _open_pil(path) as image:
        source_format = _PIL_FORMATS.get(image.format or "")
        if source_format is None:
            raise InputFileError(path, f"unsupported image type {image.format}")
        try:  # damaged files fail anywhere from counting frames to decoding, with many types
            n_frames = int(getattr(image, "n_frames", 1))
            index = limits.check_frame(path, frame, n_frames)
            width, height = image.size
            limits.check_pixel_limit(path, width, height)
            mode, target = image.mode, _pil_target_mode(image.mode)
            limits.check_memory(path, _pil_peak_bytes(mode, target, width * height), f"{width}x{height}, mode {mode}")
            if index:
                image.seek(index)
            orientation = _orientation(image)
            image.load()
            if target is not None:
                converted = image.convert(target)
                image.close()  # frees the decoded pixels
                image = converted
            array = _pil_to_array(image)
            image.close()
        except InputFileError:
            raise
        except Exception as error:
            raise InputFileError(path, f"corrupt or truncated image data ({type(error).__name__}: {error})") from None
    return DecodedPixels(_oriented(array, orientation), source_format, _pil_bit_depth(mode), n_frames, index)


def _decode_with_tifffile(path: Path, frame: int | None) -> DecodedPixels:
    """TIFFs Pillow cannot decode (16-bit colour, unusual layouts) via tifffile."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            index = limits.check_frame(path, frame, len(tif.pages))
            page = tif.pages[index]
            width, height, samples = int(page.imagewidth), int(page.imagelength), int(page.samplesperpixel)
            limits.check_pixel_limit(path, width, height)
            if page.imagedepth > 1:
                raise InputFileError(path, f"unsupported TIFF layout (a volume of depth {page.imagedepth})")
            item = np.dtype(page.dtype).itemsize
            grey = samples < 3
            kept = 1 if grey else 3
            as_float = page.dtype.kind == "f" or item > 2
            decoded = width * height * samples * item
            rearranged = width * height * kept * (4 if as_float else item)  # the contiguous HxW(x3) copy
            peak = decoded + rearranged + limits.result_bytes(width, height, grey)
            limits.check_memory(path, peak, f"{width}x{height}, {samples} sample(s) of {8 * item} bits")
            array = page.asarray(maxworkers=1)
            bits = int(page.bitspersample)
            planar = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and samples > 1
            orientation = int(page.tags.valueof(_EXIF_ORIENTATION_TAG, 1))
            n_pages = len(tif.pages)
    except InputFileError:
        raise
    except Exception as error:
        raise InputFileError(path, f"corrupt or unsupported TIFF ({type(error).__name__}: {error})") from None
    if planar:
        array = np.moveaxis(array, 0, -1)  # SxHxW -> HxWxS (a view)
    if array.shape[:2] != (height, width) or (array.ndim == 3 and array.shape[2] < 3) or array.ndim > 3:
        raise InputFileError(path, f"unsupported TIFF layout (array shape {array.shape}, {samples} sample(s))")
    if array.ndim == 3:
        array = array[:, :, :3]
    array = np.ascontiguousarray(array, dtype=np.float32 if as_float else array.dtype)
    return DecodedPixels(_oriented(array, orientation if 1 <= orientation <= 8 else 1), "tiff", bits, n_pages, index)


def decode_pixels(path: str | Path, frame: int | None = None) -> DecodedPixels:
    """Stored pixels of one frame of a raster image (PNG, JPEG, TIFF, BMP), EXIF-oriented.

    Raises InputFileError for DICOM (use read_image) and for anything unreadable.
    """
    path = Path(path)
    source_format = sniff_format(path)
    if source_format == "dicom":
        raise InputFileError(path, "is a DICOM file, not a raster image")
    if source_format == "tiff" and _needs_tifffile(path):
        return _decode_with_tifffile(path, frame)
    try:
        return _decode_with_pil(path, frame)
    except InputFileError:
        if source_format != "tiff":
            raise
        return _decode_with_tifffile(path, frame)


def _needs_tifffile(path: Path) -> bool:
    """True for TIFF layouts Pillow opens but decodes wrong: colour deeper than 8 bits, and
    planar (separate) colour planes of more than 8 bits."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return int(page.samplesperpixel) >= 3 and int(page.bitspersample) > 8
    except Exception:  # a header tifffile cannot read: let Pillow try and report
        return False
