"""Export a mask as a DICOM Segmentation (SEG) object that references its source image.

The SEG is BINARY, holds one segment, names it, and records how it was made: AUTOMATIC for raw
model output, SEMIAUTOMATIC for a mask a person corrected, with the algorithm's name and version
(family: Artificial Intelligence). For a multi-frame source the mask belongs to one frame
(``frame``, 0-based) and the SEG references that frame.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import highdicom as hd
from highdicom.spatial import get_image_coordinate_system
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from leaf_core.errors import InputFileError
from leaf_core.io.atomic import atomic_write_bytes
from leaf_core.io.dicom import PIXEL_DATA_KEYWORDS, load_source
from leaf_core.io.limits import check_frame

ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC")
DEFAULT_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
DEFAULT_PROPERTY = codes.SCT.Lesion
SINGLE_FRAME_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def write_dicom_seg(
    mask: np.ndarray,
    source: str | Path | Dataset,
    out_path: str | Path,
    algorithm_type: str,
    segment_label: str = "Lesion",
    algorithm_name: str = "LEAF",
    algorithm_version: str = "1.0",
    frame: int | None = None,
    segmented_property_category: Code = DEFAULT_CATEGORY,
    segmented_property_type: Code = DEFAULT_PROPERTY,
    series_number: int = 900,
    manufacturer: str = "LEAF Annotate",
) -> Path:
    """Write ``mask`` (HxW, nonzero = foreground, at the source's size) as a SEG at ``out_path``.

    source: the DICOM image the mask was drawn on (path or dataset with pixel data).
    algorithm_type: 'AUTOMATIC' (raw model output) or 'SEMIAUTOMATIC' (corrected by a person).
    frame: for a multi-frame source, the 0-based frame the mask belongs to (default 0).
    Raises InputFileError when the source is unusable or the mask does not fit it.
    """
    if algorithm_type not in ALGORITHM_TYPES:
        raise ValueError(f"unknown algorithm_type {algorithm_type!r}; expected one of {ALGORITHM_TYPES}")
    foreground = np.asarray(mask) != 0
    dataset, source_path = load_source(source)
    index = _check_mask_fits(foreground, dataset, source_path, frame)
    n_frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if n_frames > 1 and get_image_coordinate_system(dataset) is not None:
        # frames with positions: highdicom matches SEG frames to source frames itself
        pixel_array = np.zeros((n_frames, *foreground.shape), dtype=np.uint8)
        referenced = dataset
    else:
        # highdicom takes only single-frame sources without positions: reference a one-frame
        # view of the source and name the frame afterwards
        pixel_array = np.zeros((1, *foreground.shape), dtype=np.uint8)
        referenced = _single_frame_view(dataset) if n_frames > 1 else dataset
    pixel_array[index if pixel_array.shape[0] > 1 else 0] = foreground
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name, version=algorithm_version, family=codes.cid7162.ArtificialIntelligence
    )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=segment_label,
        segmented_property_category=segmented_property_category,
        segmented_property_type=segmented_property_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues[algorithm_type],
        algorithm_identification=algorithm,
    )
    try:
        seg = hd.seg.Segmentation(
            source_images=[referenced],
            pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=generate_uid(),
            series_number=series_number,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer=manufacturer,
            manufacturer_model_name=algorithm_name,
            software_versions=algorithm_version,
            device_serial_number="none",
            # keep only the mask's frame of a multi-frame source, but never drop every frame
            omit_empty_frames=bool(pixel_array.any()),
        )
    except Exception as error:  # highdicom validates the source in many ways
        raise InputFileError(source_path, f"cannot be referenced by a DICOM SEG ({error})") from None
    if referenced is not dataset:
        _point_at_source_frame(seg, dataset, index)
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(out_path, buffer.getvalue())
    return Path(out_path)


def _check_mask_fits(mask: np.ndarray, dataset: Dataset, source_path: Path, frame: int | None) -> int:
    """Check the mask is HxW at the source's size; return the 0-based source frame it belongs to."""
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    if mask.shape != (rows, columns):
        raise InputFileError(source_path, f"the mask has shape {mask.shape} but the image is {rows} rows x {columns} columns")
    return check_frame(source_path, frame, int(dataset.get("NumberOfFrames", 1) or 1))


def _single_frame_view(dataset: Dataset) -> Dataset:
    """A shallow copy of a multi-frame dataset's header posing as one single-frame image.

    highdicom expects enhanced functional groups in every multi-frame IOD, which legacy
    multi-frame images (cine, secondary capture) lack; _point_at_source_frame restores the
    true SOP class and names the frame in the finished SEG.
    """
    view = Dataset()
    view.file_meta = dataset.file_meta
    for element in dataset:  # copies, so the caller's dataset is left as it was
        if element.keyword not in ("NumberOfFrames", *PIXEL_DATA_KEYWORDS):
            view.add(copy.deepcopy(element))
    view.SOPClassUID = SINGLE_FRAME_SECONDARY_CAPTURE
    return view


def _point_at_source_frame(seg: Dataset, source: Dataset, index: int) -> None:
    """Make every reference of ``seg`` name ``source``'s SOP class and frame ``index`` (0-based)."""
    items = list(seg.get("SourceImageSequence", []))
    for frame_group in seg.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in frame_group.get("DerivationImageSequence", []):
            items.extend(derivation.get("SourceImageSequence", []))
    for item in items:
        item.ReferencedSOPClassUID = source.SOPClassUID
        item.ReferencedFrameNumber = index + 1
    for series in seg.get("ReferencedSeriesSequence", []):
        for instance in series.get("ReferencedInstanceSequence", []):
            instance.ReferencedSOPClassUID = source.SOPClassUID
