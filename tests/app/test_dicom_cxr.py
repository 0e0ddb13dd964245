"""The real chest radiographs of ../shared/data/dicom-cxr opened in the real window: each shows
with the file's own window, MONOCHROME1 inverted (bone bright, lungs dark) and upright.

Checks on the displayed pixels, independent of our reader: the window is the file's first
Window Center/Width as pydicom reads it; in a PA chest the lung fields (left and right of the
midline, mid-height) are darker than the mediastinum and spine between them; and upright means
the abdomen below the diaphragm (bottom band) is brighter than the shoulders and neck at the top
(upside down it is the other way round). docs/screenshots/dicom-chest-monochrome1.png shows one
of them (docs/screenshots/make_screenshots.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from leaf_app.document.image_document import DocState

DICOM_CXR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dicom-cxr"
FILES = sorted(DICOM_CXR.rglob("*.dcm")) if DICOM_CXR.is_dir() else []
CONTRAST = 30  # grey levels between the regions compared

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not FILES, reason=f"the chest DICOM files are not at {DICOM_CXR} (../shared beside the repo)"),
]


def _band(grey: np.ndarray, rows: tuple[float, float], columns: tuple[float, float]) -> float:
    height, width = grey.shape
    return float(grey[int(rows[0] * height) : int(rows[1] * height), int(columns[0] * width) : int(columns[1] * width)].mean())


def _lateral(grey: np.ndarray, rows: tuple[float, float]) -> float:
    """Mean of the two lateral column bands (where the lungs are) over ``rows``."""
    return (_band(grey, rows, (0.18, 0.35)) + _band(grey, rows, (0.65, 0.82))) / 2


def _file_window(path: Path) -> tuple[float, float]:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    first = [v[0] if isinstance(v, pydicom.multival.MultiValue) else v for v in (ds.WindowCenter, ds.WindowWidth)]
    return float(first[0]), float(first[1])


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_chest_dicom_opens_with_its_window_inverted_and_upright(make_window, path: Path) -> None:
    window = make_window()
    window.open_paths([path])
    doc = window.current
    assert doc is not None and doc.is_loaded and doc.state is DocState.NOT_PREDICTED, doc and doc.load_error
    assert window.session.task is not None and window.session.task.name == "chest_xray"
    assert doc.image.meta.photometric_interpretation == "MONOCHROME1"
    assert doc.window == pytest.approx(_file_window(path))
    shown = window.canvas.displayed_rgb()
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert shown.shape == (ds.Rows, ds.Columns, 3)
    np.testing.assert_array_equal(shown, doc.image.render(*doc.window))
    grey = shown[:, :, 0].astype(np.float64)
    lungs, mediastinum = _lateral(grey, (0.3, 0.55)), _band(grey, (0.3, 0.55), (0.45, 0.55))
    assert lungs < mediastinum - CONTRAST, f"lungs {lungs:.0f} should be darker than the mediastinum {mediastinum:.0f}"
    top, bottom = _lateral(grey, (0.03, 0.15)), _lateral(grey, (0.85, 0.97))
    assert top < bottom - CONTRAST, f"upright: the top band {top:.0f} should be darker than the abdomen {bottom:.0f}"

