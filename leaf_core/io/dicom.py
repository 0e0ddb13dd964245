"""DICOM decoding: modality LUT, VOI LUT / window, MONOCHROME1, colour, compression, frames.

Pipeline for a grey image (MONOCHROME1/2), following PS3.3 C.11:

1. stored values -> modality LUT: Rescale Slope/Intercept (float32), or the Modality LUT
   Sequence when present. The result is ``LoadedImage.intensity`` (e.g. Hounsfield units).
2. default rendering (the model input): the file's first VOI LUT Sequence item when present,
   else its first Window Center/Width (rendered linearly, VOI LUT Function ignored), else the
   robust window of the frame (0.5th-99.5th percentile, see ``windowing.AUTO_PERCENTILES``).
   ``default_window`` is that window; for a VOI LUT it is the LUT's input range.
3. MONOCHROME1 is inverted after windowing, so dense tissue is bright as on a viewer.

Colour (RGB, YBR_FULL, YBR_FULL_422, YBR_ICT/RCT, PALETTE COLOR) is converted to RGB and
scaled from Bits Stored to 8 bits; ``intensity`` is None.

Compressed transfer syntaxes are decoded by pydicom's plugins: RLE (pydicom), JPEG baseline /
extended / lossless and JPEG 2000 (pylibjpeg with pylibjpeg-libjpeg and pylibjpeg-openjpeg, or
Pillow), JPEG-LS (pyjpegls). A syntax without an installed decoder raises InputFileError naming
the syntax and what to install.

Multi-frame files: ``frame`` (0-based) picks one; the default is the first frame. Only that
frame is decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder, pixel_array

from leaf_core.errors import InputFileError
from leaf_core.io.image_types import ImageMeta, LoadedImage
from leaf_core.io.limits import check_frame, check_pixel_limit
from leaf_core.io.windowing import apply_window, colour_to_uint8, full_range_window, robust_window

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read_dataset(path: str | Path, stop_before_pixels: bool = False) -> Dataset:
    """Parse a DICOM file (with or without the 128-byte preamble); InputFileError if it is not one."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            has_preamble = handle.read(132)[128:132] == b"DICM"
        dataset = pydicom.dcmread(path, force=not has_preamble, stop_before_pixels=stop_before_pixels)
        # pydicom parses lazily: touch every element now so damage shows up here
        for _ in dataset.iterall():
            pass
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except Exception as error:  # pydicom raises many types on damaged files
        raise InputFileError(path, f"not a readable DICOM file ({type(error).__name__}: {error})") from None
    if not has_preamble and "SOPClassUID" not in dataset and "Rows" not in dataset:
        raise InputFileError(path, "not a DICOM file (no preamble and no DICOM image attributes)")
    return dataset


def load_source(source: str | Path | Dataset) -> tuple[Dataset, Path]:
    """(dataset, name for messages) from a DICOM path or an already parsed dataset."""
    if isinstance(source, Dataset):
        filename = getattr(source, "filename", None)
        name = filename if isinstance(filename, str) and filename else f"<dataset {source.get('SOPInstanceUID', '?')}>"
        return source, Path(name)
    return read_dataset(source), Path(source)


def dicom_size(path: str | Path) -> tuple[int, int]:
    """(rows, columns) of a DICOM image from its header."""
    dataset = read_dataset(path, stop_before_pixels=True)
    try:
        return int(dataset.Rows), int(dataset.Columns)
    except (AttributeError, TypeError, ValueError):
        raise InputFileError(path, "no image size (Rows/Columns missing)") from None


def read_dicom(path: str | Path, frame: int | None = None) -> LoadedImage:
    """Read one frame of a DICOM image; see the module docstring for the rendering pipeline."""
    path = Path(path)
    dataset = read_dataset(path)
    try:
        return _render(path, dataset, frame)
    except InputFileError:
        raise
    except Exception as error:  # damaged attributes or pixel data surface as many types
        raise InputFileError(path, f"damaged DICOM image ({type(error).__name__}: {error})") from None


def _render(path: Path, dataset: Dataset, frame: int | None) -> LoadedImage:
    if not any(keyword in dataset for keyword in PIXEL_DATA_KEYWORDS):
        kind = dataset.get("SOPClassUID", None)
        described = f" (SOP class {kind.name})" if kind is not None else ""
        raise InputFileError(path, f"no pixel data{described}")
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    check_pixel_limit(path, columns, rows)
    n_frames = int(dataset.get("NumberOfFrames", 1) or 1)
    index = check_frame(path, frame, n_frames)
    _check_decoder(path, dataset)
    try:
        stored = pixel_array(dataset, index=index if n_frames > 1 else None)
    except Exception as error:
        raise InputFileError(path, f"pixel data could not be decoded ({type(error).__name__}: {error})") from None
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    meta = _meta(path, dataset, photometric, n_frames, index)
    if photometric == "PALETTE COLOR":
        return LoadedImage(colour_to_uint8(apply_color_lut(stored, dataset)), None, None, meta)
    if stored.ndim == 3:
        return LoadedImage(colour_to_uint8(stored, int(dataset.BitsStored)), None, None, meta)
    intensity = modality_values(stored, dataset)
    invert = photometric == "MONOCHROME1"
    voi_lut = dataset.get("VOILUTSequence")
    if voi_lut:
        return _render_voi_lut(intensity, dataset, invert, meta)
    window = _file_window(dataset) or robust_window(intensity)
    return LoadedImage(apply_window(intensity, *window, invert=invert), intensity, window, meta)


def _check_decoder(path: Path, dataset: Dataset) -> None:
    """Name the transfer syntax and what to install when pydicom cannot decode it."""
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise InputFileError(path, f"transfer syntax {syntax.name} ({syntax}) cannot be decoded by pydicom") from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a pydicom pixel-data plugin"
        raise InputFileError(path, f"transfer syntax {syntax.name} ({syntax}) needs a decoder; install one of: {needs}")


def modality_values(stored: np.ndarray, dataset: Dataset) -> np.ndarray:
    """HxW stored values -> float32 modality values (Rescale Slope/Intercept or Modality LUT)."""
    if "ModalityLUTSequence" in dataset:
        return apply_modality_lut(stored, dataset).astype(np.float32)
    values = stored.astype(np.float32)
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    return values


def _file_window(dataset: Dataset) -> tuple[float, float] | None:
    """The file's first Window Center/Width, or None."""
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is None or width is None or center == "" or width == "":
        return None
    center_value, width_value = _first_number(center), _first_number(width)
    if not (np.isfinite(center_value) and np.isfinite(width_value)) or width_value < 1:
        return None
    return center_value, width_value


def _first_number(value: object) -> float:
    """The first value of a possibly multi-valued numeric attribute."""
    return float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)  # type: ignore[index, arg-type]


def _render_voi_lut(intensity: np.ndarray, dataset: Dataset, invert: bool, meta: ImageMeta) -> LoadedImage:
    """Render through the first VOI LUT Sequence item; the window reported is its input range."""
    item = dataset.VOILUTSequence[0]
    descriptor = [int(v) for v in item.LUTDescriptor]
    n_entries = descriptor[0] or 65536
    first_mapped, output_bits = descriptor[1], descriptor[2]
    # indexed here: pydicom 3.0's apply_voi wraps 8-bit LUT output given as US values
    raw = item.LUTData
    if isinstance(raw, bytes):
        lut = np.frombuffer(raw, dtype="<u1" if output_bits <= 8 else "<u2")
    else:
        lut = np.asarray(raw if isinstance(raw, pydicom.multival.MultiValue | list) else [raw])
    lut = lut[:n_entries].astype(np.float32)
    positions = np.rint(intensity) - np.float32(first_mapped)
    np.clip(positions, 0, len(lut) - 1, out=positions)
    output = lut[positions.astype(np.intp)]
    window = full_range_window(0.0, float(2**output_bits - 1))
    rgb = apply_window(output, *window, invert=invert)
    return LoadedImage(rgb, intensity, full_range_window(first_mapped, first_mapped + n_entries - 1), meta)


def _pixel_spacing(dataset: Dataset) -> tuple[float, float] | None:
    """(row, column) spacing in mm from Pixel Spacing, Imager Pixel Spacing or functional groups."""
    spacing = dataset.get("PixelSpacing") or dataset.get("ImagerPixelSpacing")
    if spacing is None:
        shared = dataset.get("SharedFunctionalGroupsSequence")
        measures = shared[0].get("PixelMeasuresSequence") if shared else None
        spacing = measures[0].get("PixelSpacing") if measures else None
    if spacing is None or len(spacing) != 2:
        return None
    return float(spacing[0]), float(spacing[1])


def _meta(path: Path, dataset: Dataset, photometric: str, n_frames: int, index: int) -> ImageMeta:
    def text(keyword: str) -> str | None:
        value = dataset.get(keyword)
        return str(value) if value else None

    return ImageMeta(
        path=path,
        width=int(dataset.Columns),
        height=int(dataset.Rows),
        source_format="dicom",
        bit_depth=int(dataset.get("BitsStored", dataset.get("BitsAllocated", 8))),
        modality=text("Modality"),
        photometric_interpretation=photometric,
        pixel_spacing=_pixel_spacing(dataset),
        study_instance_uid=text("StudyInstanceUID"),
        series_instance_uid=text("SeriesInstanceUID"),
        sop_instance_uid=text("SOPInstanceUID"),
        number_of_frames=n_frames,
        frame=index,
    )
