"""Masks: reading every encoding, size checks, PNG round trips, a folder in one call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import dicom_dataset, save
from PIL import Image

from leaf_core.errors import InputFileError
from leaf_core.io import read_mask, write_label_map_png, write_mask_png, write_masks


@pytest.fixture
def mask() -> np.ndarray:
    m = np.zeros((48, 64), dtype=bool)
    m[5:20, 10:40] = True
    return m


def test_png_round_trip_is_0_255(tmp_path: Path, mask: np.ndarray) -> None:
    path = write_mask_png(mask, tmp_path / "m.png")
    stored = np.asarray(Image.open(path))
    assert stored.dtype == np.uint8 and set(np.unique(stored)) == {0, 255}
    np.testing.assert_array_equal(read_mask(path, expected_shape=(48, 64)), mask)


def test_encodings(tmp_path: Path, mask: np.ndarray) -> None:
    rgb = np.zeros((*mask.shape, 3), np.uint8)
    rgb[mask, 1] = 200  # green only: foreground by any channel
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), mask)
    tifffile.imwrite(tmp_path / "gt.tif", mask.astype(np.uint8) * 255)
    np.testing.assert_array_equal(read_mask(tmp_path / "gt.tif"), mask)
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "lossy.jpg", quality=70)
    jpeg = read_mask(tmp_path / "lossy.jpg")
    assert (jpeg != mask).mean() < 0.01  # edge noise is not foreground
    Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "labels.bmp")
    np.testing.assert_array_equal(read_mask(tmp_path / "labels.bmp"), mask)


def test_size_mismatch_names_both_sizes(tmp_path: Path, mask: np.ndarray) -> None:
    path = write_mask_png(mask, tmp_path / "m.png")
    with pytest.raises(InputFileError, match=r"mask is 64x48 but its image is 32x16") as caught:
        read_mask(path, expected_shape=(16, 32))
    assert "m.png" in str(caught.value)


def test_label_map(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2], [3, 0, 1]], dtype=np.int64)
    np.testing.assert_array_equal(np.asarray(Image.open(write_label_map_png(labels, tmp_path / "l.png"))), labels)
    wide = labels * 300
    np.testing.assert_array_equal(np.asarray(Image.open(write_label_map_png(wide, tmp_path / "w.png"))), wide)
    with pytest.raises(ValueError):
        write_label_map_png(-labels - 1, tmp_path / "bad.png")


def test_write_masks_folder(tmp_path: Path, mask: np.ndarray, grey16: np.ndarray) -> None:
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "case1.jpg")
    dicom = save(dicom_dataset(grey16), tmp_path / "case2.dcm")
    out = write_masks([(tmp_path / "case1.jpg", mask), (dicom, np.ones((64, 80), bool))], tmp_path / "out")
    assert [p.name for p in out] == ["case1.png", "case2.png"]
    np.testing.assert_array_equal(read_mask(out[0]), mask)
    with pytest.raises(InputFileError, match="mask is 64x48 but its image is 80x64"):
        write_masks([(dicom, mask)], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="both be written"):
        write_masks([(tmp_path / "case1.jpg", mask), (tmp_path / "x" / "case1.png", mask)], tmp_path / "dup")
