"""DICOM reading: LUTs, windows, MONOCHROME1, colour, compression, frames and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import dicom_dataset, jpeg_baseline_dataset, save
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_encoder
from pydicom.uid import JPEG2000Lossless, MPEG2MPML, RLELossless

from leaf_core.errors import InputFileError
from leaf_core.io import image_size, read_image


def test_rescale_and_window(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = dicom_dataset(grey16, Modality="CT", RescaleSlope=2, RescaleIntercept=-1024, WindowCenter=[40, 400], WindowWidth=[400, 2000], PixelSpacing=[0.7, 0.8])
    image = read_image(save(ds, tmp_path / "ct.dcm"))
    np.testing.assert_array_equal(image.intensity, grey16.astype(np.float32) * 2 - 1024)
    assert image.default_window == (40.0, 400.0)
    np.testing.assert_array_equal(image.rgb, image.render(40, 400))
    meta = image.meta
    assert (meta.source_format, meta.modality, meta.photometric_interpretation, meta.pixel_spacing) == ("dicom", "CT", "MONOCHROME2", (0.7, 0.8))
    assert (meta.study_instance_uid, meta.series_instance_uid, meta.sop_instance_uid) == (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert (meta.width, meta.height, meta.bit_depth, meta.number_of_frames, meta.frame) == (80, 64, 16, 1, 0)


def test_no_window_uses_robust_range(tmp_path: Path, grey16: np.ndarray) -> None:
    image = read_image(save(dicom_dataset(grey16), tmp_path / "a.dcm"))
    assert image.rgb.min() == 0 and image.rgb.max() == 255
    low, high = image.default_window[0] - image.default_window[1] / 2, image.default_window[0] + image.default_window[1] / 2
    assert grey16.min() <= low < high <= grey16.max() + 1


def test_monochrome1_is_inverted(tmp_path: Path, grey16: np.ndarray) -> None:
    mono2 = read_image(save(dicom_dataset(grey16, WindowCenter=2000, WindowWidth=4000), tmp_path / "m2.dcm"))
    mono1 = read_image(save(dicom_dataset(grey16, "MONOCHROME1", WindowCenter=2000, WindowWidth=4000), tmp_path / "m1.dcm"))
    np.testing.assert_array_equal(mono1.intensity, mono2.intensity)
    np.testing.assert_array_equal(mono1.rgb, 255 - mono2.rgb)
    assert mono1.inverted and mono1.rgb[0, 0, 0] > mono1.rgb[-1, -1, 0]  # low value = dense = bright
    np.testing.assert_array_equal(mono1.render(2000, 4000), mono1.rgb)


def test_voi_lut_sequence(tmp_path: Path, grey16: np.ndarray) -> None:
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 8]
    item.LUTData = [min(255, v // 8) for v in range(4096)]  # saturates at 2040
    ds = dicom_dataset(grey16)
    ds.VOILUTSequence = [item]
    ds["VOILUTSequence"][0]["LUTData"].VR = "US"
    image = read_image(save(ds, tmp_path / "voi.dcm"))
    expected = np.minimum(255, grey16 // 8).astype(np.uint8)
    np.testing.assert_array_equal(image.rgb[:, :, 0], expected)
    assert image.default_window == (2048.0, 4096.0)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_lossless_compressed_grey(tmp_path: Path, grey16: np.ndarray, syntax: str) -> None:
    if not get_encoder(syntax).is_available:
        pytest.skip(f"no encoder for {syntax.name}: {get_encoder(syntax).missing_dependencies}")
    ds = dicom_dataset(grey16, RescaleSlope=1, RescaleIntercept=-100)
    ds.compress(syntax)
    image = read_image(save(ds, tmp_path / "c.dcm"))
    np.testing.assert_array_equal(image.intensity, grey16.astype(np.float32) - 100)


@pytest.mark.parametrize("photometric", ["YBR_FULL_422", "RGB"])
def test_jpeg_baseline_colour(tmp_path: Path, colour8: np.ndarray, photometric: str) -> None:
    image = read_image(save(jpeg_baseline_dataset(colour8, photometric), tmp_path / "endo.dcm"))
    assert image.intensity is None and image.meta.photometric_interpretation == photometric
    assert np.abs(image.rgb.astype(int) - colour8).max() <= 8


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_uncompressed_colour(tmp_path: Path, colour8: np.ndarray, photometric: str) -> None:
    ds = dicom_dataset(colour8, "RGB", Modality="XC")
    if photometric == "YBR_FULL":
        from pydicom.pixels import convert_color_space

        ds.set_pixel_data(convert_color_space(colour8, "RGB", "YBR_FULL"), "YBR_FULL", 8)
    image = read_image(save(ds, tmp_path / "c.dcm"))
    assert np.abs(image.rgb.astype(int) - colour8).max() <= 2


def test_rgb_jpeg2000(tmp_path: Path, colour8: np.ndarray) -> None:
    ds = dicom_dataset(colour8, "RGB", Modality="OP")
    ds.compress(JPEG2000Lossless)
    image = read_image(save(ds, tmp_path / "fundus.dcm"))
    np.testing.assert_array_equal(image.rgb, colour8)


def test_multi_frame_choice(tmp_path: Path, grey16: np.ndarray) -> None:
    frames = np.stack([grey16, grey16 + 1000, grey16 + 2000])
    path = save(dicom_dataset(frames, frames=3, sop_class="1.2.840.10008.5.1.4.1.1.7.3"), tmp_path / "cine.dcm")
    first = read_image(path)
    assert (first.meta.frame, first.meta.number_of_frames) == (0, 3)
    np.testing.assert_array_equal(first.intensity, grey16)
    np.testing.assert_array_equal(read_image(path, frame=2).intensity, grey16 + 2000)
    with pytest.raises(InputFileError, match="frame 3 out of range: the file has 3 frame"):
        read_image(path, frame=3)


def test_no_pixel_data(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = dicom_dataset(grey16)
    del ds.PixelData
    path = save(ds, tmp_path / "empty.dcm")
    with pytest.raises(InputFileError, match="no pixel data") as caught:
        read_image(path)
    assert "empty.dcm" in str(caught.value)


def test_truncated_pixel_data(tmp_path: Path, grey16: np.ndarray) -> None:
    path = save(dicom_dataset(grey16), tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(InputFileError, match="cut.dcm"):
        read_image(path)


def test_unsupported_transfer_syntax_is_named(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = dicom_dataset(grey16.astype(np.uint8))
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    with pytest.raises(InputFileError, match="MPEG2"):
        read_image(save(ds, tmp_path / "video.dcm"))


def test_dicom_without_preamble_and_size(tmp_path: Path, grey16: np.ndarray) -> None:
    path = save(dicom_dataset(grey16), tmp_path / "a.dcm")
    raw = tmp_path / "raw.bin"
    raw.write_bytes(path.read_bytes()[132:])  # no 128-byte preamble and no 'DICM', no .dcm suffix
    assert image_size(path) == image_size(raw) == (64, 80)
    np.testing.assert_array_equal(read_image(raw).intensity, grey16)  # found by content, not by name
