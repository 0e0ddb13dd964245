"""An independent rendering of a DICOM frame, built only from pydicom's (and, for enhanced
multi-frame functional groups, highdicom's) own pipeline, to compare our reader against.

grey: modality LUT / rescale (pydicom.pixels.apply_modality_lut), then the VOI LUT or window
(apply_voi_lut, first item), scaled from its output range to 0..255, MONOCHROME1 inverted; with
no VOI in the file: the 0.5-99.5 percentile window documented as our default.
colour: pydicom's RGB (YBR converted, palette applied) scaled from Bits Stored to 0..255.
"""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

FUNCTIONAL_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


def load(path: object) -> Dataset:
    """dcmread, giving a file without file meta the transfer syntax pydicom found while parsing."""
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
        implicit, little = ds.original_encoding
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((values.astype(np.float64) - low) / max(high - low, 1e-12) * 255.0, 0, 255)


def _highdicom_voi(ds: Dataset) -> np.ndarray | None:
    """Frame 1 through highdicom's modality + VOI transforms (functional groups), scaled to 0..255."""
    import highdicom as hd

    try:
        image = hd.Image.from_dataset(ds, copy=True)
        values = image.get_frame(1, apply_modality_transform=True, apply_voi_transform=True, apply_presentation_lut=False)
    except (RuntimeError, IndexError, ValueError):
        return None
    return np.clip(values * 255.0, 0, 255)


def reference_render(ds: Dataset) -> np.ndarray:
    """HxW (grey) or HxWx3 (colour) float64 in 0..255 for the first frame."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    stored = pixel_array(ds, index=0 if n_frames > 1 else None)
    photometric = str(ds.PhotometricInterpretation).strip()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(stored, ds)
        return _scaled(rgb, 0, 2 ** (8 * rgb.dtype.itemsize) - 1)
    if stored.ndim == 3:
        return _scaled(stored, 0, 2 ** int(ds.BitsStored) - 1)
    enhanced = any(name in ds for name in FUNCTIONAL_GROUPS)
    grey = _highdicom_voi(ds) if enhanced else None
    if grey is None:
        modality = apply_modality_lut(stored, ds)
        if ds.get("VOILUTSequence"):
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            grey = _scaled(apply_voi_lut(modality, ds), 0, 2**bits - 1)
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            windowed = apply_voi_lut(modality.astype(np.float64), ds)
            low, high = _window_output_range(ds)
            grey = _scaled(windowed, low, high)
        else:  # no VOI in the file: the documented default window, rendered by pydicom
            low, high = np.percentile(modality, (0.5, 99.5))
            if high <= low:
                low, high = modality.min(), modality.max()
            width = max(float(high - low) + 1.0, 1.0)
            windowed = Dataset(ds)
            windowed.WindowCenter, windowed.WindowWidth = float(low) + width / 2.0, width
            windowed.VOILUTFunction = "LINEAR"
            output_low, output_high = _window_output_range(windowed)
            grey = _scaled(apply_voi_lut(modality.astype(np.float64), windowed), output_low, output_high)
    return 255.0 - grey if photometric == "MONOCHROME1" else grey


def _window_output_range(ds: Dataset) -> tuple[float, float]:
    """pydicom's apply_windowing output range (PS3.3 C.11.2.1.2: the modality value range)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, 2.0 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
    bits = int(ds.BitsStored)
    low, high = (0.0, 2.0**bits - 1) if ds.PixelRepresentation == 0 else (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        low, high = low * slope + intercept, high * slope + intercept
    return low, high
