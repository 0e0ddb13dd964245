"""Importers from the paper's four datasets' published layouts into our dataset folder layout.

``import_dataset(name, source, out, seed=0) -> ImportSummary``; ``IMPORTERS`` maps each name to
its importer (one module per dataset; shared machinery in ``common``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from leaf_core.errors import InputFileError
from leaf_core.io.importers import cvc_clinicdb, isic2018, qata_cov19, refuge2
from leaf_core.io.importers.common import ImportSummary

IMPORTERS: dict[str, Callable[[Path, Path, int], ImportSummary]] = {
    refuge2.NAME: refuge2.import_refuge2,
    cvc_clinicdb.NAME: cvc_clinicdb.import_cvc_clinicdb,
    qata_cov19.NAME: qata_cov19.import_qata_cov19,
    isic2018.NAME: isic2018.import_isic2018,
}


def import_dataset(name: str, source: str | Path, out: str | Path, seed: int = 0) -> ImportSummary:
    """Import dataset ``name`` from its published layout under ``source`` into ``out``.

    Raises ValueError for an unknown name, InputFileError when ``source`` is not a folder or
    lacks the expected layout, LeafError when ``out`` is not empty or nothing could be imported.
    """
    if name not in IMPORTERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(IMPORTERS)}")
    source = Path(source)
    if not source.is_dir():
        raise InputFileError(source, "not a folder")
    return IMPORTERS[name](source, Path(out), seed)


__all__ = ["IMPORTERS", "ImportSummary", "import_dataset"]
