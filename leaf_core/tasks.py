"""The four segmentation tasks the product serves, and how to guess one from a file.

Each task has its own model. The app lets the user pick a task, or infers it from the folder
names around an image (``kvasir-seg/images/x.jpg`` is colonoscopy) or from a DICOM's modality.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Task:
    """One segmentation task: what is imaged and which structure is outlined."""

    name: str  # stable key, used in settings and file names
    modality: str  # for people: "Fundus"
    structure: str  # for people: "optic cup"
    folder_hints: tuple[str, ...] = ()
    dicom_modalities: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """'Fundus (optic cup)'."""
        return f"{self.modality} ({self.structure})"


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("fundus", "Fundus", "optic cup", ("fundus", "refuge", "drishti", "retina"), ("OP", "OPT")),
        Task("colonoscopy", "Colonoscopy", "polyp", ("kvasir", "cvc", "polyp", "colon", "endoscop"), ("ES",)),
        Task("chest_xray", "Chest X-ray", "lesion", ("qata", "covid", "xray", "x-ray", "cxr", "chest"), ("CR", "DX")),
        Task("dermoscopy", "Dermoscopy", "skin lesion", ("isic", "ph2", "derm", "skin"), ("XC",)),
    )
}


def get_task(name: str) -> Task:
    """The task called ``name``; raises ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}") from None


def infer_task(path: str | Path | None, dicom_modality: str | None = None) -> Task | None:
    """Guess the task from a DICOM modality (trusted first) or the folder names in ``path``.

    ``path`` is an image file or a folder. Only folder names count (nearest first), never a
    file's own name, so ``polyp_3.png`` in a folder called ``fundus`` is a fundus image. Returns None when nothing matches.
    """
    if dicom_modality:
        code = dicom_modality.strip().upper()
        for task in TASKS.values():
            if code in task.dicom_modalities:
                return task
    if path is None:
        return None
    path = Path(path)
    folders = path.parts if path.is_dir() else path.parent.parts
    for folder in folders[::-1]:
        name = folder.lower()
        for task in TASKS.values():
            if any(hint in name for hint in task.folder_hints):
                return task
    return None
