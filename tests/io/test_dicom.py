"""DICOM reading: LUTs, windows, MONOCHROME1, colour, compression, frames and broken files."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import dicom_dataset, jpeg_baseline_dataset, save
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, get_encoder, pixel_array
from pydicom.uid import JPEG2000Lossless, MPEG2MPML, RLELossless

from leaf_core.errors import InputFileError
from leaf_core.io import image_size, limits, read_image


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


def test_no_file_meta_at_all_reads_with_the_parsed_encoding(tmp_path: Path, grey16: np.ndarray) -> None:
    """ACR-NEMA style: no preamble, no file meta; pydicom's parse tells the encoding."""
    raw = tmp_path / "acr_nema"
    pydicom.dcmwrite(raw, Dataset(dicom_dataset(grey16, RescaleIntercept=-7, RescaleSlope=1)), implicit_vr=True, little_endian=True)
    assert raw.read_bytes()[:2] == b"\x08\x00"
    np.testing.assert_array_equal(read_image(raw).intensity, grey16.astype(np.float32) - 7)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                                  "MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm", "examples_rgb_color.dcm"])
def test_dual_personality_pydicom_files_read_as_dicom(name: str) -> None:
    """These files carry a TIFF header in their preamble (allowed by PS3.10 7.5): still DICOM."""
    path = Path(get_testdata_file(name))
    assert path.read_bytes()[:4] in (b"II*\x00", b"MM\x00*")
    ds = pydicom.dcmread(path)
    image = read_image(path)
    assert image.meta.source_format == "dicom" and image.meta.sop_instance_uid == ds.SOPInstanceUID
    if ds.SamplesPerPixel == 3:
        np.testing.assert_array_equal(image.rgb, ds.pixel_array)
        return
    np.testing.assert_allclose(image.intensity, apply_modality_lut(ds.pixel_array, ds), rtol=1e-6)
    if "WindowCenter" in ds:
        center, width = (v[0] if isinstance(v, pydicom.multival.MultiValue) else v for v in (ds.WindowCenter, ds.WindowWidth))
        assert image.default_window == (float(center), float(width))


def test_enhanced_ct_rescale_and_window_from_functional_groups() -> None:
    """eCT_Supplemental keeps rescale and window only in its Shared Functional Groups."""
    path = Path(get_testdata_file("eCT_Supplemental.dcm"))
    ds = pydicom.dcmread(path)
    assert "RescaleIntercept" not in ds and "WindowCenter" not in ds
    for frame in (0, 1):
        image = read_image(path, frame=frame)
        np.testing.assert_array_equal(image.intensity, pixel_array(ds, index=frame).astype(np.float32) - 1024)
        assert image.default_window == (49.0, 102.0)


def _functional_group(intercept: float | None = None, center: float | None = None) -> Dataset:
    group = Dataset()
    if intercept is not None:
        transform = Dataset()
        transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = intercept, 1, "HU"
        group.PixelValueTransformationSequence = [transform]
    if center is not None:
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 400
        group.FrameVOILUTSequence = [voi]
    return group


def test_per_frame_functional_groups_win_over_shared(tmp_path: Path, grey16: np.ndarray) -> None:
    """PS3.3 C.7.6.16: a frame's own item first, then the shared one, then top level."""
    frames = np.stack([grey16, grey16, grey16])
    ds = dicom_dataset(frames, frames=3, sop_class="1.2.840.10008.5.1.4.1.1.2.1", RescaleIntercept=5, RescaleSlope=1)
    ds.SharedFunctionalGroupsSequence = [_functional_group(intercept=-1024, center=40)]
    ds.PerFrameFunctionalGroupsSequence = [_functional_group(), _functional_group(intercept=-1000), _functional_group(center=-600)]
    path = save(ds, tmp_path / "enhanced.dcm")
    expected = [(-1024, 40.0), (-1000, 40.0), (-1024, -600.0)]
    for frame, (intercept, center) in enumerate(expected):
        image = read_image(path, frame=frame)
        np.testing.assert_array_equal(image.intensity, grey16.astype(np.float32) + intercept)
        assert image.default_window == (center, 400.0), frame


@pytest.mark.parametrize(("attribute", "value", "named"), [
    ("RescaleSlope", "NaN", "Rescale Slope (0028,1053)"),
    ("RescaleIntercept", "-inf", "Rescale Intercept (0028,1052)"),
    ("WindowCenter", "inf", "Window Center (0028,1050)"),
    ("WindowWidth", "nan", "Window Width (0028,1051)"),
])
def test_non_finite_rescale_or_window_is_refused(tmp_path: Path, grey16: np.ndarray, attribute: str, value: str, named: str) -> None:
    ds = dicom_dataset(grey16, RescaleSlope=1, RescaleIntercept=0, WindowCenter=100, WindowWidth=200)
    ds[attribute].value = value
    with pytest.raises(InputFileError, match=re.escape(named) + ".*not a finite number"):
        read_image(save(ds, tmp_path / "nan.dcm"))


def test_deflated_image_frame_compression_is_named(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = dicom_dataset(grey16)
    ds.PixelData = encapsulate([zlib.compress(grey16.tobytes())])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless  # pydicom 3.0 writes only syntaxes it knows
    path = save(ds, tmp_path / "deflated.dcm")
    path.write_bytes(path.read_bytes().replace(JPEG2000Lossless.encode(), b"1.2.840.10008.1.2.8.1\x00", 1))
    with pytest.raises(InputFileError, match=r"Deflated Image Frame Compression \(1\.2\.840\.10008\.1\.2\.8\.1\) has no decoder"):
        read_image(path)


def _jpeg2000(grey16: np.ndarray) -> Dataset:
    if not get_encoder(JPEG2000Lossless).is_available:
        pytest.skip(f"no JPEG 2000 encoder: {get_encoder(JPEG2000Lossless).missing_dependencies}")
    ds = dicom_dataset(grey16)
    ds.compress(JPEG2000Lossless)
    return ds


def test_truncated_jpeg2000_says_truncated(tmp_path: Path, grey16: np.ndarray) -> None:
    path = save(_jpeg2000(grey16), tmp_path / "j2k.dcm")
    path.write_bytes(path.read_bytes()[:-200])  # ends inside the last fragment: no sequence delimiter
    with pytest.raises(InputFileError, match="truncated"):
        read_image(path)


def test_jpeg2000_with_a_com_segment_after_the_tiles_is_repaired(tmp_path: Path, grey16: np.ndarray) -> None:
    """The defect of pydicom issue 966: 'PADDING' in a COM segment just before EOC."""
    ds = _jpeg2000(grey16)
    codestream = pydicom.encaps.get_frame(ds.PixelData, 0, number_of_frames=1).rstrip(b"\x00")
    assert codestream.endswith(b"\xff\xd9")
    comment = b"\xff\x64" + (11).to_bytes(2, "big") + b"\x00\x01PADDING"
    ds.PixelData = encapsulate([codestream[:-2] + comment + b"\xff\xd9"])
    with pytest.raises(Exception):  # noqa: B017 (pydicom's own decoders refuse it)
        pixel_array(ds)
    np.testing.assert_array_equal(read_image(save(ds, tmp_path / "966.dcm")).intensity, grey16)


def test_codestream_larger_than_the_header_is_refused_before_decoding(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = _jpeg2000(grey16)
    codestream = bytearray(pydicom.encaps.get_frame(ds.PixelData, 0, number_of_frames=1))
    codestream[8:16] = (60000).to_bytes(4, "big") * 2  # SIZ Xsiz, Ysiz: 60000 x 60000
    ds.PixelData = encapsulate([bytes(codestream)])
    with pytest.raises(InputFileError, match="codestream says 60000x60000 pixels but the DICOM header says 80x64"):
        read_image(save(ds, tmp_path / "bomb.dcm"))


def test_memory_budget_from_the_header(tmp_path: Path, grey16: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(dicom_dataset(grey16), tmp_path / "a.dcm")
    monkeypatch.setattr(limits, "MEMORY_BUDGET_BYTES", 20_000)
    with pytest.raises(InputFileError, match=r"80x64, 1 sample\(s\) of 16 bits\) needs about .* above the .* memory budget"):
        read_image(path)


def test_damaged_attributes_are_named(tmp_path: Path, grey16: np.ndarray) -> None:
    ds = dicom_dataset(grey16)
    ds.NumberOfFrames = 1
    path = save(ds, tmp_path / "bad_frames.dcm")
    number_of_frames = b"\x28\x00\x08\x00IS\x02\x001 "
    assert number_of_frames in path.read_bytes()
    path.write_bytes(path.read_bytes().replace(number_of_frames, number_of_frames[:-2] + b"1A"))  # as in pydicom's badVR.dcm
    with pytest.raises(InputFileError, match=r"Number of Frames \(0028,0008\) is '1A', not a whole number"):
        read_image(path)
    ds = dicom_dataset(grey16)
    del ds.Rows, ds.BitsAllocated
    with pytest.raises(InputFileError, match=r"missing: Rows \(0028,0010\), Bits Allocated \(0028,0100\)"):
        read_image(save(ds, tmp_path / "no_rows.dcm"))
