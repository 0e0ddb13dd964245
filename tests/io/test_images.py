"""Raster images: every format and mode we accept, the defaults, limits and bad input."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from leaf_core.errors import InputFileError
from leaf_core.io import limits, raster
from leaf_core.io.folders import list_images, read_images, summarize_skipped
from leaf_core.io.images import image_size, read_image
from leaf_core.io.window_presets import WINDOW_PRESETS, window_for_preset
from leaf_core.io.windowing import apply_window


def test_png_rgb_8bit(tmp_path: Path, colour8: np.ndarray) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(colour8).save(path)
    image = read_image(path)
    assert image.rgb.dtype == np.uint8 and image.rgb.shape == (48, 64, 3)
    np.testing.assert_array_equal(image.rgb, colour8)
    assert image.intensity is None and image.default_window is None
    assert (image.meta.width, image.meta.height, image.meta.source_format, image.meta.bit_depth) == (64, 48, "png", 8)
    assert image.meta.modality is None and image.meta.sop_instance_uid is None


def test_png_grey_8bit_is_identity(tmp_path: Path) -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(image.rgb, np.repeat(grey[:, :, None], 3, axis=2))
    assert image.intensity.dtype == np.float32
    np.testing.assert_array_equal(image.intensity, grey)


def test_png_16bit_keeps_full_range(tmp_path: Path, grey16: np.ndarray) -> None:
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.meta.bit_depth == 16
    np.testing.assert_array_equal(image.intensity, grey16.astype(np.float32))
    assert image.rgb.min() == 0 and image.rgb.max() == 255  # windowed to the robust range
    center, width = image.default_window
    assert grey16.min() <= center <= grey16.max() and width > 1


def test_png_palette_rgba_and_1bit(tmp_path: Path, colour8: np.ndarray) -> None:
    Image.fromarray(colour8).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").rgb.shape == (48, 64, 3)
    rgba = np.dstack([colour8, np.full(colour8.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png").rgb, colour8)  # alpha dropped
    Image.fromarray(np.eye(8, dtype=bool)).save(tmp_path / "bits.png")
    one_bit = read_image(tmp_path / "bits.png")
    assert one_bit.meta.bit_depth == 1 and set(np.unique(one_bit.rgb)) == {0, 255}


def test_jpeg_exif_orientation_and_cmyk(tmp_path: Path, colour8: np.ndarray) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(colour8).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "rot.jpg")
    assert image.rgb.shape == (64, 48, 3) and (image.meta.width, image.meta.height) == (48, 64)
    assert image_size(tmp_path / "rot.jpg") == (64, 48)
    Image.fromarray(colour8).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.meta.source_format == "jpeg"
    assert np.abs(cmyk.rgb.astype(int) - colour8).mean() < 8


def test_tiff_8bit_16bit_rgb16_and_pages(tmp_path: Path, colour8: np.ndarray, grey16: np.ndarray) -> None:
    tifffile.imwrite(tmp_path / "rgb.tif", colour8)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif").rgb, colour8)
    tifffile.imwrite(tmp_path / "g16.tif", grey16)
    np.testing.assert_array_equal(read_image(tmp_path / "g16.tif").intensity, grey16)
    rgb16 = colour8.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb16.tif").rgb, colour8)
    tifffile.imwrite(tmp_path / "pages.tif", np.stack([grey16, grey16 + 7]))
    second = read_image(tmp_path / "pages.tif", frame=1)
    assert (second.meta.frame, second.meta.number_of_frames) == (1, 2)
    np.testing.assert_array_equal(second.intensity, grey16 + 7)
    with pytest.raises(InputFileError, match="frame 2 out of range"):
        read_image(tmp_path / "pages.tif", frame=2)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_match_pillow(tmp_path: Path, orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=exif)  # lossless, so pixels compare exactly
    with Image.open(tmp_path / "o.png") as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    np.testing.assert_array_equal(read_image(tmp_path / "o.png").rgb, expected)
    assert image_size(tmp_path / "o.png") == expected.shape[:2]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_planar_tiff_is_height_width_3(tmp_path: Path, colour8: np.ndarray, dtype: type) -> None:
    """PlanarConfiguration = 2 stores the three colour planes one after the other."""
    colour = colour8.astype(dtype) * (257 if dtype == np.uint16 else 1)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(colour, 2, 0), planarconfig="separate", photometric="rgb")
    image = read_image(tmp_path / "planar.tif")
    assert image.rgb.shape == (48, 64, 3)
    np.testing.assert_array_equal(image.rgb, colour8)


def test_huge_planar_tiff_is_refused_before_decoding(tmp_path: Path) -> None:
    """A small file whose header claims 3 x 20000 x 20000 (1.2 GB) never gets decoded."""
    path = tmp_path / "planar_bomb.tif"
    tifffile.imwrite(path, np.zeros((3, 200, 200), np.uint8), planarconfig="separate", photometric="rgb", compression="zlib")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(20000)
        tif.pages[0].tags["ImageLength"].overwrite(20000)
    started = time.perf_counter()
    with pytest.raises(InputFileError, match="20000x20000 .* above the 150-megapixel limit"):
        read_image(path)
    with pytest.raises(InputFileError, match="20000x20000 .* above the 150-megapixel limit"):
        raster._decode_with_tifffile(path, None)  # the fallback for TIFFs Pillow cannot open
    assert time.perf_counter() - started < 2.0


def _read_in_fresh_process(path: Path) -> tuple[tuple[int, ...], int, int]:
    """(rgb shape, peak RSS MB, growth of the peak during read_image MB) in a new interpreter."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (v)forked parent, so under
    # a pytest that holds 2 GB the child's ru_maxrss starts at 2 GB.
    script = (
        "import re, sys\n"
        "from leaf_core.io import read_image\n"
        "def peak_kb():\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "before = peak_kb()\n"
        "image = read_image(sys.argv[1])\n"
        "after = peak_kb()\n"
        "print(*image.rgb.shape, after // 1024, (after - before) // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=True)
    *shape, peak_mb, grown_mb = (int(v) for v in result.stdout.split())
    return tuple(shape), peak_mb, grown_mb


def test_150_megapixel_grey_16bit_png_peaks_near_7_bytes_per_pixel(tmp_path: Path) -> None:
    """The limit case: a small 16-bit PNG of 150 MP. Before: 2.1 GB; the pipeline now holds
    Pillow's buffer or the stored array, the float32 intensity and the rgb, never more."""
    side = 12247  # 150 megapixels
    path = tmp_path / "big16.png"
    ramp = np.linspace(0, 65535, side).astype(np.uint16)
    Image.fromarray(np.broadcast_to(ramp[:, None], (side, side)).copy()).save(path, compress_level=1)
    shape, peak_mb, grown_mb = _read_in_fresh_process(path)
    assert shape == (side, side, 3)
    assert grown_mb < 7.3 * side * side / 2**20, f"grew by {grown_mb} MB"  # 7 bytes per pixel
    assert peak_mb < 1500, f"peak {peak_mb} MB"


def test_bmp_and_mislabelled_extension(tmp_path: Path, colour8: np.ndarray) -> None:
    Image.fromarray(colour8).save(tmp_path / "a.bmp")
    assert read_image(tmp_path / "a.bmp").meta.source_format == "bmp"
    Image.fromarray(colour8).save(tmp_path / "really_jpeg.png", format="JPEG")
    assert read_image(tmp_path / "really_jpeg.png").meta.source_format == "jpeg"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"hello, I am a text file" * 10, "not a supported image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
    ],
)
def test_bad_files_name_file_and_problem(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=problem) as caught:
        read_image(path)
    assert str(path) in str(caught.value)


def test_truncated_jpeg(tmp_path: Path, colour8: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(colour8).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputFileError, match="truncated"):
        read_image(tmp_path / "cut.jpg")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputFileError, match="is a folder"):
        read_image(tmp_path)


def test_pixel_limit(tmp_path: Path, colour8: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(colour8).save(tmp_path / "a.png")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(InputFileError, match="megapixel limit"):
        read_image(tmp_path / "a.png")


def test_large_jpeg_loads_with_bounded_memory(tmp_path: Path) -> None:
    """A 6000x4000 JPEG: peak growth stays near the 72 MB result (no float copies)."""
    path = tmp_path / "big.jpg"
    rows = np.linspace(0, 255, 4000, dtype=np.uint8)[:, None, None]
    Image.fromarray(np.broadcast_to(rows, (4000, 6000, 3)).copy()).save(path, quality=80)
    shape, _, grown_mb = _read_in_fresh_process(path)
    assert shape == (4000, 6000, 3)
    assert grown_mb < 8 * 24e6 / 2**20, f"peak memory grew by {grown_mb} MB for a 72 MB image"  # 8 bytes per pixel


def test_apply_window_and_presets(tmp_path: Path, grey16: np.ndarray) -> None:
    values = np.array([[-1400.0, -600.0, 150.0, 1000.0]], dtype=np.float32)
    rendered = apply_window(values, *WINDOW_PRESETS["Lung"])
    assert rendered.shape == (1, 4, 3) and rendered.dtype == np.uint8
    assert rendered[0, 0, 0] == 0 and rendered[0, 3, 0] == 255 and 120 <= rendered[0, 1, 0] <= 135
    np.testing.assert_array_equal(apply_window(values, -600, 1500, invert=True), 255 - rendered)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    for name in WINDOW_PRESETS:
        center, width = window_for_preset(name, image)
        assert width >= 1
    full = image.render(*window_for_preset("Full range", image))
    assert full.min() == 0 and full.max() == 255
    with pytest.raises(ValueError, match="unknown window preset"):
        window_for_preset("Nope", image)


def test_list_and_read_images_skip_broken(tmp_path: Path, colour8: np.ndarray) -> None:
    Image.fromarray(colour8).save(tmp_path / "b.png")
    Image.fromarray(colour8).save(tmp_path / "a.jpg")
    (tmp_path / "c.tif").write_bytes(b"II*\x00garbage")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    paths = list_images(tmp_path)
    assert [p.name for p in paths] == ["a.jpg", "b.png", "c.tif"]
    loaded, skipped = read_images(paths)
    assert len(loaded) == 2 and [s.path.name for s in skipped] == ["c.tif"]
    assert "skipped 1 file(s)" in summarize_skipped(skipped) and "c.tif" in summarize_skipped(skipped)
