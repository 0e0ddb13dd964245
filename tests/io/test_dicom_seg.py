"""DICOM SEG export: read back by highdicom, references, algorithm type, frames."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from conftest import CT_IMAGE, dicom_dataset, save

from leaf_core.errors import InputFileError
from leaf_core.io import write_dicom_seg


@pytest.fixture
def lesion() -> np.ndarray:
    mask = np.zeros((64, 80), dtype=bool)
    mask[10:30, 20:55] = True
    return mask


@pytest.mark.parametrize("algorithm_type", ["AUTOMATIC", "SEMIAUTOMATIC"])
def test_round_trip_single_frame(tmp_path: Path, grey16: np.ndarray, lesion: np.ndarray, algorithm_type: str) -> None:
    source = dicom_dataset(grey16, Modality="DX")
    path = save(source, tmp_path / "xray.dcm")
    out = write_dicom_seg(lesion, path, tmp_path / "seg.dcm", algorithm_type, segment_label="Opacity", algorithm_version="0.3")
    seg = hd.seg.segread(out)
    np.testing.assert_array_equal(seg.pixel_array.reshape(64, 80).astype(bool), lesion)
    segment = seg.SegmentSequence[0]
    assert segment.SegmentLabel == "Opacity" and segment.SegmentAlgorithmType == algorithm_type
    assert segment.SegmentAlgorithmName == "LEAF"
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID


def test_ct_with_geometry_and_empty_mask(tmp_path: Path, grey16: np.ndarray, lesion: np.ndarray) -> None:
    source = dicom_dataset(
        grey16, sop_class=CT_IMAGE, Modality="CT", ImagePositionPatient=[0, 0, 0],
        ImageOrientationPatient=[1, 0, 0, 0, 1, 0], PixelSpacing=[0.5, 0.5], SliceThickness=1,
    )
    seg = hd.seg.segread(write_dicom_seg(lesion, source, tmp_path / "seg.dcm", "AUTOMATIC"))
    np.testing.assert_array_equal(seg.pixel_array.reshape(64, 80).astype(bool), lesion)
    empty = hd.seg.segread(write_dicom_seg(np.zeros_like(lesion), source, tmp_path / "empty.dcm", "AUTOMATIC"))
    assert not empty.pixel_array.any()


def test_multi_frame_source_references_the_frame(tmp_path: Path, grey16: np.ndarray, lesion: np.ndarray) -> None:
    source = dicom_dataset(np.stack([grey16] * 3), frames=3, sop_class="1.2.840.10008.5.1.4.1.1.7.3")
    source.file_meta.MediaStorageSOPClassUID = source.SOPClassUID
    seg = hd.seg.segread(write_dicom_seg(lesion, source, tmp_path / "seg.dcm", "SEMIAUTOMATIC", frame=2))
    np.testing.assert_array_equal(seg.pixel_array.reshape(64, 80).astype(bool), lesion)
    derivation = seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert derivation.ReferencedFrameNumber == 3 and derivation.ReferencedSOPClassUID == source.SOPClassUID
    assert source.NumberOfFrames == 3 and "PixelData" in source  # the caller's dataset is untouched


def test_wrong_size_and_bad_type(tmp_path: Path, grey16: np.ndarray) -> None:
    path = save(dicom_dataset(grey16), tmp_path / "a.dcm")
    with pytest.raises(InputFileError, match="the mask has shape"):
        write_dicom_seg(np.zeros((10, 10), bool), path, tmp_path / "seg.dcm", "AUTOMATIC")
    with pytest.raises(ValueError, match="algorithm_type"):
        write_dicom_seg(np.zeros((64, 80), bool), path, tmp_path / "seg.dcm", "MANUAL")
    assert not (tmp_path / "seg.dcm").exists()
