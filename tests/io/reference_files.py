"""Real files no one on this project wrote: pydicom's test files (and pydicom-data's) and
../shared/data/dicom-cxr, listed without pydicom's downloader (which waits on the network)."""

from __future__ import annotations

from pathlib import Path

from pydicom.data.data_manager import DATA_ROOT, external_data_sources

# ../shared beside the repository, as in conftest.py (not imported: the fuzz harness runs this
# without torch, which conftest brings in)
DICOM_CXR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dicom-cxr"


def pydicom_test_files() -> list[Path]:
    """Every .dcm file pydicom ships, plus those of the pydicom-data package when installed."""
    files = sorted(Path(DATA_ROOT, "test_files").rglob("*.dcm"))
    for source in external_data_sources().values():
        files += sorted(Path(p) for p in source.get_paths("**/*.dcm", 0))
    return files


def dicom_cxr_files() -> list[Path]:
    """The real chest CR/DX files in ../shared/data/dicom-cxr (edge/ included); [] when absent."""
    return sorted(DICOM_CXR.rglob("*.dcm")) if DICOM_CXR.is_dir() else []
