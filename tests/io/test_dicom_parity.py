"""Every DICOM file pydicom ships (and pydicom-data's, and ../shared/data/dicom-cxr) against
pydicom's own pipeline: modality LUT / rescale, then VOI LUT / window, MONOCHROME1 inverted,
scaled to 0..255 (dicom_reference.py). Mean absolute error at most one grey level; every file
we refuse is one listed below, refused for the reason listed.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from dicom_reference import load, reference_render
from reference_files import DICOM_CXR, dicom_cxr_files, pydicom_test_files

from leaf_core.errors import InputFileError
from leaf_core.io import read_image

MAX_MEAN_ABSOLUTE_ERROR = 1.0
NO_IMAGE = "no pixel data"  # structured reports, RT plans, waveforms, DICOMDIR, parser tests
EXPECTED_REFUSALS = {
    "DICOMDIR-empty.dcm": NO_IMAGE,
    "ExplVR_BigEndNoMeta.dcm": NO_IMAGE,
    "ExplVR_LitEndNoMeta.dcm": NO_IMAGE,
    "UN_sequence.dcm": NO_IMAGE,
    "empty_charset_LEI.dcm": NO_IMAGE,
    "no_meta_group_length.dcm": NO_IMAGE,
    "priv_SQ.dcm": NO_IMAGE,
    "reportsi.dcm": NO_IMAGE,
    "reportsi_with_empty_number_tags.dcm": NO_IMAGE,
    "rtplan.dcm": NO_IMAGE,
    "rtplan_truncated.dcm": NO_IMAGE,
    "rtstruct.dcm": NO_IMAGE,
    "test-SR.dcm": NO_IMAGE,
    "waveform_ecg.dcm": NO_IMAGE,
    # 12-bit JPEG Extended that libjpeg rejects (a misplaced marker) and Pillow cannot do; pydicom
    # decodes it only with GDCM
    "JPEG-lossy.dcm": r"JPEG Extended .* could not be decoded .*misplaced marker",
    # pydicom's test of a sequence delimiter inside the codestream: the frame it finds is not one
    "JPEG2000-embedded-sequence-delimiter.dcm": r"codestream says \d+x\d+ pixels but the DICOM header says 256x1024",
    "MR_truncated.dcm": r"truncated pixel data \(.*8130 vs 8192 bytes",
    "emri_small_jpeg_2k_lossless_too_short.dcm": r"truncated file: it ends before its data does",
    "badVR.dcm": r"Number of Frames \(0028,0008\) is '1A', not a whole number",
    "meta_missing_tsyntax.dcm": r"pixel data without the image attributes it needs \(missing: Rows",
    "nested_priv_SQ.dcm": r"pixel data without the image attributes it needs \(missing: Rows",
    # a stray byte before the first element: pydicom itself parses garbage from it
    "no_meta.dcm": r"not a supported image",
}
# pydicom cannot decode this one (a COM segment after the last tile; we drop it): its pixels are
# those of the fixed copy beside it
REFERENCE_FILE = {"966_bad-COM-marker.dcm": DICOM_CXR / "966_fixed.dcm"}


def _rendered(path: Path) -> np.ndarray:
    image = read_image(path)
    if image.intensity is not None:
        assert (image.rgb == image.rgb[:, :, :1]).all(), "grey rendered with unequal channels"
        return image.rgb[:, :, 0].astype(np.float64)
    return image.rgb.astype(np.float64)


def test_every_pydicom_and_cxr_file_matches_pydicom_or_is_refused_for_its_reason() -> None:
    files = pydicom_test_files() + dicom_cxr_files()
    errors, compared, refused = [], {}, {}
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.name in EXPECTED_REFUSALS:
                try:
                    read_image(path)
                    errors.append(f"{path.name}: read, but expected a refusal ({EXPECTED_REFUSALS[path.name]})")
                except InputFileError as error:
                    refused[path.name] = error.problem
                    if not re.search(EXPECTED_REFUSALS[path.name], error.problem):
                        errors.append(f"{path.name}: refused as {error.problem!r}, expected {EXPECTED_REFUSALS[path.name]!r}")
                continue
            try:
                ours = _rendered(path)
            except InputFileError as error:
                errors.append(f"{path.name}: refused ({error.problem}), not in the list of expected refusals")
                continue
            reference = reference_render(load(REFERENCE_FILE.get(path.name, path)))
        if ours.shape != reference.shape:
            errors.append(f"{path.name}: shape {ours.shape}, pydicom {reference.shape}")
            continue
        compared[path.name] = float(np.abs(ours - reference).mean())
        if compared[path.name] > MAX_MEAN_ABSOLUTE_ERROR:
            errors.append(f"{path.name}: mean absolute error {compared[path.name]:.2f} grey levels")
    worst = max(compared, key=compared.get)
    print(f"\nparity: {len(files)} files; {len(compared)} compared, max MAE {compared[worst]:.3f} ({worst}); "
          f"{len(refused)} refused: " + "; ".join(f"{name}: {problem}" for name, problem in sorted(refused.items())))
    assert not errors, "\n".join(errors)
    assert len(compared) >= 55  # pydicom's own files alone; 131 with pydicom-data and dicom-cxr
    assert set(path.name for path in dicom_cxr_files()) <= set(compared)
