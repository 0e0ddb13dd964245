"""DICOM decoding: header checks, memory, compression, frames; then the display pipeline.

Pipeline for a grey image (MONOCHROME1/2), following PS3.3 C.11 (:mod:`leaf_core.io.dicom_values`):

1. stored values -> modality LUT: Rescale Slope/Intercept (float32), or the Modality LUT
   Sequence when present; for enhanced multi-frame images, the values of the chosen frame's
   functional groups. The result is ``LoadedImage.intensity`` (e.g. Hounsfield units).
2. default rendering (the model input): the first VOI LUT Sequence item when present, else the
   first Window Center/Width (rendered linearly, VOI LUT Function ignored), else the robust
   window of the frame (0.5th-99.5th percentile, see ``windowing.AUTO_PERCENTILES``).
   ``default_window`` is that window; for a VOI LUT it is the LUT's input range.
3. MONOCHROME1 is inverted after windowing, so dense tissue is bright as on a viewer.

Colour (RGB, YBR_FULL, YBR_FULL_422, YBR_ICT/RCT, PALETTE COLOR) is converted to RGB and
scaled from Bits Stored to 8 bits; ``intensity`` is None.

Compressed transfer syntaxes are decoded by pydicom's plugins: RLE (pydicom), JPEG baseline /
extended / lossless and JPEG 2000 (pylibjpeg with pylibjpeg-libjpeg and pylibjpeg-openjpeg, or
Pillow), JPEG-LS (pylibjpeg-libjpeg, or pyjpegls). Before decoding: the image attributes must be there and be
numbers, the frame's codestream header must agree with Rows/Columns, and the memory the decode
takes (worked out from the header, ``limits.MEMORY_BUDGET_BYTES``) must fit. Every refusal is
an ``InputFileError`` that says why: a transfer syntax with no decoder, a truncated file, a
damaged codestream (with the decoders' own words).

Files without file meta (ACR-NEMA style, or meta without a transfer syntax) are read with the
encoding pydicom found while parsing, when their pixel data is not compressed.

Multi-frame files: ``frame`` (0-based) picks one; the default is the first frame. Only that
frame is decoded.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.pixels import apply_color_lut, get_decoder, pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000TransferSyntaxes

from leaf_core.errors import InputFileError
from leaf_core.io import limits
from leaf_core.io.dicom_codestream import codestream_size, without_trailing_comment
from leaf_core.io.dicom_values import attribute_label, file_window, frame_value_attributes, modality_values, render_voi_lut
from leaf_core.io.image_types import ImageMeta, LoadedImage
from leaf_core.io.sniff import has_dicom_preamble, read_header
from leaf_core.io.windowing import apply_window, colour_to_uint8, robust_window

log = logging.getLogger(__name__)

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
REQUIRED_IMAGE_ATTRIBUTES = ("Rows", "Columns", "BitsAllocated")
# Transfer syntaxes of the standard (PS3.6 Table A-1) newer than pydicom 3.0's UID dictionary
NEWER_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2.8.1": "Deflated Image Frame Compression",
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
_TRUNCATION_WARNINGS = ("End of file reached", "truncated")


def read_dataset(path: str | Path, stop_before_pixels: bool = False) -> Dataset:
    """Parse a DICOM file (with or without the 128-byte preamble); InputFileError if it is not one.

    A file without a transfer syntax in its file meta gets the encoding pydicom parsed it with.
    """
    path = Path(path)
    has_preamble = has_dicom_preamble(read_header(path))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(path, force=not has_preamble, stop_before_pixels=stop_before_pixels)
            # pydicom parses lazily: touch every element now so damage shows up here
            for _ in dataset.iterall():
                pass
    except Exception as error:  # pydicom raises many types on damaged files
        raise InputFileError(path, f"not a readable DICOM file ({type(error).__name__}: {error})") from None
    if not has_preamble and "SOPClassUID" not in dataset and "Rows" not in dataset:
        raise InputFileError(path, "not a DICOM file (no preamble and no DICOM image attributes)")
    truncation = [str(w.message) for w in caught if any(t in str(w.message) for t in _TRUNCATION_WARNINGS)]
    if truncation and not stop_before_pixels and not _has_pixel_data(dataset):
        raise InputFileError(path, f"truncated file: it ends before its data does ({truncation[0].split(' found in')[0]})")
    _give_transfer_syntax(dataset)
    return dataset


def _has_pixel_data(dataset: Dataset) -> bool:
    return any(keyword in dataset for keyword in PIXEL_DATA_KEYWORDS)


def _give_transfer_syntax(dataset: Dataset) -> None:
    """Set the transfer syntax of a file whose meta has none, from how pydicom parsed it.

    Only native (uncompressed) pixel data can be read that way; compressed data without a
    transfer syntax is refused later, when it is decoded.
    """
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    if "PixelData" in dataset and dataset["PixelData"].is_undefined_length:
        return
    implicit, little = dataset.original_encoding
    if implicit is None or little is None:
        return
    if meta is None:
        dataset.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def load_source(source: str | Path | Dataset) -> tuple[Dataset, Path]:
    """(dataset, name for messages) from a DICOM path or an already parsed dataset."""
    if isinstance(source, Dataset):
        filename = getattr(source, "filename", None)
        name = filename if isinstance(filename, str) and filename else f"<dataset {source.get('SOPInstanceUID', '?')}>"
        return source, Path(name)
    return read_dataset(source), Path(source)


def _image_number(path: Path, dataset: Dataset, keyword: str, default: int | None = None) -> int:
    """An integer image attribute, InputFileError naming it when missing or not a number."""
    value = dataset.get(keyword, default)
    if value is None or value == "":
        if default is not None:
            return default
        raise InputFileError(path, f"missing image attribute {attribute_label(keyword)}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputFileError(path, f"{attribute_label(keyword)} is {str(value)!r}, not a whole number") from None


def dicom_size(path: str | Path) -> tuple[int, int]:
    """(rows, columns) of a DICOM image from its header."""
    path = Path(path)
    dataset = read_dataset(path, stop_before_pixels=True)
    return _image_number(path, dataset, "Rows"), _image_number(path, dataset, "Columns")


def read_dicom(path: str | Path, frame: int | None = None) -> LoadedImage:
    """Read one frame of a DICOM image; see the module docstring for the rendering pipeline."""
    path = Path(path)
    file_bytes = _file_size(path)
    limits.check_memory(path, file_bytes, f"a DICOM file of {file_bytes / 1e9:.1f} GB, read whole")
    dataset = read_dataset(path)
    try:
        return _render(path, dataset, frame, file_bytes)
    except InputFileError:
        raise
    except Exception as error:  # damaged attributes or pixel data surface as many types
        raise InputFileError(path, f"damaged DICOM image ({type(error).__name__}: {error})") from None


def _file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError as error:
        raise InputFileError(path, f"cannot be opened ({error.strerror or error})") from None


def _render(path: Path, dataset: Dataset, frame: int | None, file_bytes: int) -> LoadedImage:
    if not _has_pixel_data(dataset):
        kind = dataset.get("SOPClassUID", None)
        described = f" (SOP class {kind.name})" if kind is not None else ""
        raise InputFileError(path, f"no pixel data{described}")
    missing = [keyword for keyword in REQUIRED_IMAGE_ATTRIBUTES if keyword not in dataset]
    if missing:
        names = ", ".join(attribute_label(keyword) for keyword in missing)
        raise InputFileError(path, f"pixel data without the image attributes it needs (missing: {names})")
    rows, columns = _image_number(path, dataset, "Rows"), _image_number(path, dataset, "Columns")
    limits.check_pixel_limit(path, columns, rows)
    n_frames = max(1, _image_number(path, dataset, "NumberOfFrames", 1))
    index = limits.check_frame(path, frame, n_frames)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    _check_memory(path, dataset, rows, columns, photometric, file_bytes)
    syntax = _check_decoder(path, dataset)
    stored = _decode_frame(path, dataset, syntax, index, n_frames)
    for keyword in PIXEL_DATA_KEYWORDS:  # the encoded bytes are no longer needed
        if keyword in dataset:
            del dataset[keyword]
    meta = _meta(path, dataset, photometric, n_frames, index)
    if photometric == "PALETTE COLOR":
        return LoadedImage(colour_to_uint8(apply_color_lut(stored, dataset)), None, None, meta)
    if stored.ndim == 3:
        return LoadedImage(colour_to_uint8(stored, _image_number(path, dataset, "BitsStored")), None, None, meta)
    attributes = frame_value_attributes(dataset, index)
    intensity = modality_values(path, stored, attributes)
    del stored
    invert = photometric == "MONOCHROME1"
    if attributes.get("VOILUTSequence"):
        rgb, window = render_voi_lut(intensity, attributes, invert)
        return LoadedImage(rgb, intensity, window, meta)
    window = file_window(path, attributes) or robust_window(intensity)
    return LoadedImage(apply_window(intensity, *window, invert=invert), intensity, window, meta)


def _check_memory(path: Path, dataset: Dataset, rows: int, columns: int, photometric: str, file_bytes: int) -> None:
    """Refuse, from the header, a frame whose decode would pass the memory budget.

    Peak: the file's bytes beside the decoder's output and pydicom's array of one frame (plus
    float32 copies for a YBR to RGB conversion); then (the file's bytes dropped) the stored
    frame beside the float32 intensity (grey) or the rgb (colour); then intensity and rgb.
    """
    samples = _image_number(path, dataset, "SamplesPerPixel", 1)
    bits = _image_number(path, dataset, "BitsAllocated")
    pixels = rows * columns
    frame_bytes = pixels * samples * max(1, (bits + 7) // 8)
    conversion = pixels * samples * 8 if photometric.startswith("YBR") else 0
    decode = file_bytes + 2 * frame_bytes + conversion
    if samples == 1 and photometric != "PALETTE COLOR":
        after = max(frame_bytes + pixels * limits.INTENSITY_BYTES_PER_PIXEL, limits.result_bytes(columns, rows, grey=True))
    else:
        after = frame_bytes + limits.result_bytes(columns, rows, grey=False)
    peak = max(decode, after)
    limits.check_memory(path, peak, f"{columns}x{rows}, {samples} sample(s) of {bits} bits")


def _transfer_syntax_name(syntax: str) -> str:
    known = UID(syntax)
    name = NEWER_TRANSFER_SYNTAXES.get(syntax) or (known.name if known.name != syntax else "")
    return f"{name} ({syntax})" if name else syntax


def _check_decoder(path: Path, dataset: Dataset) -> UID | None:
    """The transfer syntax; InputFileError naming it and what to install when pydicom cannot decode it."""
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None:
        if "PixelData" in dataset and dataset["PixelData"].is_undefined_length:
            raise InputFileError(path, "compressed pixel data but no transfer syntax (file meta missing), so no decoder can be chosen")
        return None
    if not syntax.is_transfer_syntax:
        raise InputFileError(path, f"transfer syntax {_transfer_syntax_name(syntax)} has no decoder in pydicom {pydicom.__version__}")
    if not syntax.is_compressed:
        return syntax
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise InputFileError(path, f"transfer syntax {_transfer_syntax_name(syntax)} cannot be decoded by pydicom") from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a pydicom pixel-data plugin"
        raise InputFileError(path, f"transfer syntax {_transfer_syntax_name(syntax)} needs a decoder; install one of: {needs}")
    return syntax


def _decode_frame(path: Path, dataset: Dataset, syntax: UID | None, index: int, n_frames: int) -> np.ndarray:
    """The stored values of one frame; InputFileError saying why when it cannot be decoded."""
    encoded = None
    if syntax is not None and syntax.is_compressed and syntax.is_encapsulated:
        encoded = _encoded_frame(path, dataset, syntax, index, n_frames)
    try:
        return pixel_array(dataset, index=index if n_frames > 1 else None)
    except Exception as error:
        repaired = without_trailing_comment(encoded) if encoded is not None and syntax in JPEG2000TransferSyntaxes else None
        if repaired is None:
            raise InputFileError(path, _decode_failure(error, syntax)) from None
    log.warning("%s: JPEG 2000 frame %d has a COM segment after its last tile; read without it", path, index)
    single = Dataset(dataset)
    single.file_meta = dataset.file_meta
    single.PixelData = encapsulate([repaired])
    single.NumberOfFrames = 1
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in single:
            del single[keyword]
    try:
        return pixel_array(single)
    except Exception as error:
        raise InputFileError(path, _decode_failure(error, syntax)) from None


def _encoded_frame(path: Path, dataset: Dataset, syntax: UID, index: int, n_frames: int) -> bytes:
    """The codestream of one encapsulated frame, its header checked against Rows/Columns."""
    try:
        frame = get_frame(dataset.PixelData, index, number_of_frames=n_frames)
    except Exception as error:
        raise InputFileError(path, f"damaged encapsulated pixel data: frame {index} cannot be found ({error})") from None
    size = codestream_size(frame) if syntax != pydicom.uid.RLELossless else None
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    if size is not None and size[0] and (size[0], size[1]) != (rows, columns):
        raise InputFileError(
            path,
            f"damaged {_transfer_syntax_name(syntax)} frame {index}: its codestream says {size[1]}x{size[0]} "
            f"pixels but the DICOM header says {columns}x{rows}",
        )
    return frame


def _decode_failure(error: Exception, syntax: UID | None) -> str:
    """Why decoding failed, in the decoders' own words, without pydicom's preamble."""
    text = str(error)
    if "less than expected" in text:
        return f"truncated pixel data ({text.split(' - ')[0]})"
    plugins = [line.strip() for line in text.splitlines()[1:] if line.strip()]
    described = f"{_transfer_syntax_name(syntax)} " if syntax is not None else ""
    reason = "; ".join(plugins) if plugins else f"{type(error).__name__}: {text}"
    return f"the {described}pixel data could not be decoded (damaged or truncated codestream?): {reason}"


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
