"""From stored DICOM values to what is shown (PS3.3 C.11): modality LUT, then VOI LUT or window.

Enhanced multi-frame images (enhanced CT, MR, XA ...) keep Rescale Slope/Intercept in the
Pixel Value Transformation Sequence and Window Center/Width in the Frame VOI LUT Sequence of
their functional groups. ``frame_value_attributes`` gathers them for one frame, in the order of
precedence PS3.3 C.7.6.16 gives: the frame's Per-frame Functional Groups item, else the Shared
Functional Groups, else the top-level attributes. Non-finite numbers (NaN, infinity) are refused
with the attribute named, never passed on as an all-NaN image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from leaf_core.errors import InputFileError
from leaf_core.io.windowing import apply_window, full_range_window, row_blocks

RESCALE_KEYWORDS = ("RescaleSlope", "RescaleIntercept", "RescaleType")
VOI_KEYWORDS = ("WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence")
_TOP_LEVEL_KEYWORDS = (*RESCALE_KEYWORDS, *VOI_KEYWORDS, "ModalityLUTSequence")
_FUNCTIONAL_GROUP_MACROS = (("PixelValueTransformationSequence", RESCALE_KEYWORDS), ("FrameVOILUTSequence", VOI_KEYWORDS))


def frame_value_attributes(dataset: Dataset, index: int) -> Dataset:
    """A flat dataset with the modality LUT / rescale and VOI attributes that apply to frame ``index``."""
    flat = Dataset()
    for keyword in _TOP_LEVEL_KEYWORDS:
        if keyword in dataset:
            flat[keyword] = dataset[keyword]
    shared = dataset.get("SharedFunctionalGroupsSequence")
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    groups = [shared[0] if shared else None, per_frame[index] if per_frame and index < len(per_frame) else None]
    for group in groups:
        if group is None:
            continue
        for macro, keywords in _FUNCTIONAL_GROUP_MACROS:
            items = group.get(macro)
            if not items:
                continue
            for keyword in keywords:
                if keyword in items[0]:
                    flat[keyword] = items[0][keyword]
    return flat


def _number(path: Path, attributes: Dataset, keyword: str, default: float) -> float:
    """A finite number from an attribute (its first value when multi-valued), or ``default``."""
    value = attributes.get(keyword)
    if value is None or value == "":
        return default
    if isinstance(value, pydicom.multival.MultiValue | list):
        if not value:
            return default
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputFileError(path, f"{attribute_label(keyword)} is {str(value)!r}, not a number") from None
    if not math.isfinite(number):
        raise InputFileError(path, f"{attribute_label(keyword)} is {number}, not a finite number")
    return number


def attribute_label(keyword: str) -> str:
    """'Rescale Slope (0028,1053)' for 'RescaleSlope'."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    name = pydicom.datadict.dictionary_description(tag) if tag is not None else keyword
    return f"{name} ({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else name


def modality_values(path: Path, stored: np.ndarray, attributes: Dataset) -> np.ndarray:
    """HxW stored values -> float32 modality values (Modality LUT, else Rescale Slope/Intercept)."""
    if attributes.get("ModalityLUTSequence"):
        return apply_modality_lut(stored, attributes).astype(np.float32)
    slope = _number(path, attributes, "RescaleSlope", 1.0)
    intercept = _number(path, attributes, "RescaleIntercept", 0.0)
    values = stored.astype(np.float32)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    return values


def file_window(path: Path, attributes: Dataset) -> tuple[float, float] | None:
    """The first Window Center/Width that applies, or None (none given, or width below 1)."""
    if attributes.get("WindowCenter") in (None, "") or attributes.get("WindowWidth") in (None, ""):
        return None
    center = _number(path, attributes, "WindowCenter", math.nan)
    width = _number(path, attributes, "WindowWidth", math.nan)
    return (center, width) if width >= 1 else None


def render_voi_lut(intensity: np.ndarray, attributes: Dataset, invert: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """HxWx3 uint8 through the first VOI LUT Sequence item, and the LUT's input range as
    (center, width). The LUT is turned into display grey levels once, then indexed in blocks."""
    item = attributes.VOILUTSequence[0]
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
    display = apply_window(lut[None, :], *full_range_window(0.0, float(2**output_bits - 1)), invert=invert)[0, :, 0]
    rgb = np.empty((*intensity.shape, 3), dtype=np.uint8)
    for rows in row_blocks(*intensity.shape):
        positions = np.rint(intensity[rows]) - np.float32(first_mapped)
        np.clip(positions, 0, len(lut) - 1, out=positions)
        rgb[rows] = display[positions.astype(np.intp)][:, :, None]
    return rgb, full_range_window(first_mapped, first_mapped + n_entries - 1)
