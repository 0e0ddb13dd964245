"""Writing masks out at the image's original size, through the I/O layer (no Qt)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from leaf_app.document.image_document import DocState, ImageDocument
from leaf_core.io.dicom_seg import write_dicom_seg
from leaf_core.io.masks import write_mask_png, write_masks
from leaf_core.tasks import Task

DICOM_SUFFIX = ".dcm"


def is_dicom(doc: ImageDocument) -> bool:
    return doc.image is not None and doc.image.meta.source_format == "dicom"


def default_export_name(doc: ImageDocument) -> str:
    """'<stem>_seg.dcm' for DICOM sources, '<stem>_mask.png' otherwise."""
    return f"{doc.path.stem}_seg{DICOM_SUFFIX}" if is_dicom(doc) else f"{doc.path.stem}_mask.png"


def exportable(docs: Iterable[ImageDocument]) -> list[ImageDocument]:
    """Documents with a mask worth writing: loaded, and predicted or edited."""
    return [d for d in docs if d.mask is not None and d.state is not DocState.NOT_PREDICTED]


def export_mask(doc: ImageDocument, out_path: str | Path, task: Task | None = None) -> Path:
    """Write ``doc``'s mask to ``out_path``: a DICOM-SEG when it ends in .dcm, else a 0/255 PNG.

    The document counts as saved afterwards. Raises InputFileError / ValueError from the I/O layer.
    """
    if doc.mask is None:
        raise RuntimeError(f"{doc.name} is not loaded; nothing to export")
    out_path = Path(out_path)
    if out_path.suffix.lower() == DICOM_SUFFIX:
        if not is_dicom(doc):
            raise ValueError(f"'{doc.name}' is not a DICOM image, so its mask cannot be a DICOM-SEG; export a PNG")
        _write_seg(doc, out_path, task)
    else:
        write_mask_png(doc.mask, out_path)
    doc.mark_saved()
    return out_path


def export_all(docs: Iterable[ImageDocument], folder: str | Path, task: Task | None = None) -> list[Path]:
    """Write '<stem>.png' for every exportable document, plus '<stem>_seg.dcm' for DICOM ones."""
    docs = exportable(docs)
    folder = Path(folder)
    written = write_masks([(d.path, d.mask) for d in docs], folder)
    for doc in docs:
        if is_dicom(doc):
            written.append(_write_seg(doc, folder / f"{doc.path.stem}_seg{DICOM_SUFFIX}", task))
        doc.mark_saved()
    return written


def _write_seg(doc: ImageDocument, out_path: Path, task: Task | None) -> Path:
    edited = doc.predicted_mask is None or doc.dice_of_change() != 1.0
    stamp = doc.prediction_model
    return write_dicom_seg(
        doc.mask,  # type: ignore[arg-type]
        doc.path,
        out_path,
        algorithm_type="SEMIAUTOMATIC" if edited else "AUTOMATIC",
        segment_label=task.structure if task else "Lesion",
        algorithm_name=stamp.name if stamp else "LEAF",
        algorithm_version=stamp.version if stamp else "none",
        frame=doc.image.meta.frame,  # type: ignore[union-attr]
    )
