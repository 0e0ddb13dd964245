"""Broken bytes thrown at every reader: only InputFileError may come out, and nothing hangs.

Seeds are valid files of every format (DICOM plain, RLE and JPEG); hypothesis flips bytes,
truncates and splices them. Examples are bounded so the test runs in CI in seconds.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tifffile
from conftest import dicom_dataset, jpeg_baseline_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.uid import RLELossless

from leaf_core.errors import InputFileError
from leaf_core.io import limits
from leaf_core.io.dicom import read_dataset
from leaf_core.io.images import image_size, read_image
from leaf_core.io.masks import read_mask


def _seed_files() -> dict[str, bytes]:
    rows, cols = np.mgrid[0:24, 0:32]
    colour = np.stack([rows * 9, cols * 7, 255 - rows * 5], axis=2).astype(np.uint8)
    grey16 = (rows * 300 + cols).astype(np.uint16)
    seeds: dict[str, bytes] = {}
    for name, fmt, array in (("a.png", "PNG", colour), ("g.png", "PNG", grey16), ("a.jpg", "JPEG", colour), ("a.bmp", "BMP", colour)):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, fmt)
        seeds[name] = buffer.getvalue()
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, grey16)
    seeds["a.tif"] = buffer.getvalue()
    plain = dicom_dataset(grey16, WindowCenter=100, WindowWidth=200, RescaleSlope=2, RescaleIntercept=-5)
    rle = dicom_dataset(grey16)
    rle.compress(RLELossless)
    for name, ds in (("plain.dcm", plain), ("rle.dcm", rle), ("jpeg.dcm", jpeg_baseline_dataset(colour, "YBR_FULL_422"))):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        seeds[name] = buffer.getvalue()
    return seeds


SEEDS = _seed_files()
READERS: dict[str, Callable[[Path], object]] = {
    "read_image": read_image,
    "read_mask": read_mask,
    "image_size": image_size,
    "read_dataset": read_dataset,
}


@st.composite
def broken_files(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data)))
        data[start:start] = draw(st.binary(max_size=64))
    return name, bytes(data)


@pytest.mark.parametrize("reader", sorted(READERS))
@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=broken_files())
def test_only_input_file_errors(reader: str, case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(limits, "MAX_IMAGE_PIXELS", 4_000_000):
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            READERS[reader](path)
        except InputFileError as error:
            assert name in str(error)


@settings(max_examples=40, deadline=5000)
@given(data=st.binary(max_size=512), suffix=st.sampled_from([".png", ".jpg", ".tif", ".bmp", ".dcm", ""]))
def test_random_bytes(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data)
        for reader in READERS.values():
            try:
                reader(path)
            except InputFileError:
                pass
