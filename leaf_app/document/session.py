"""The open images, which one is shown, and which task they belong to."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from leaf_app.document.events import Event
from leaf_app.document.image_document import ImageDocument
from leaf_core.errors import LeafError
from leaf_core.io.folders import list_images
from leaf_core.io.images import read_image
from leaf_core.tasks import Task, infer_task


class Session:
    """The file list. Events: ``documents_added(list)``, ``current_changed(index)``, ``task_changed(task)``,
    ``document_loaded(doc)`` (its image was just read)."""

    def __init__(self, task: Task | None = None) -> None:
        self.documents: list[ImageDocument] = []
        self.current_index: int = -1
        self.task: Task | None = task
        self.task_chosen_by_user = False
        self.documents_added = Event()
        self.current_changed = Event()
        self.task_changed = Event()
        self.document_loaded = Event()

    @property
    def current(self) -> ImageDocument | None:
        if 0 <= self.current_index < len(self.documents):
            return self.documents[self.current_index]
        return None

    def find(self, path: str | Path) -> int | None:
        resolved = Path(path).resolve()
        for i, doc in enumerate(self.documents):
            if doc.path.resolve() == resolved:
                return i
        return None

    def open_paths(self, paths: Iterable[str | Path]) -> list[ImageDocument]:
        """Add image files and the images inside folders; files already open are skipped.

        Raises LeafError for a folder with no images in it. Unreadable files are added (the
        list shows their error) and fail when loaded.
        """
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                found = list_images(path)
                if not found:
                    raise LeafError(f"the folder '{path}' holds no images")
                files.extend(Path(p) for p in found)
            elif path.exists():
                files.append(path)
            else:
                raise LeafError(f"cannot open '{path}': the file does not exist")
        added = []
        for path in files:
            if self.find(path) is None:
                doc = ImageDocument(path)
                self.documents.append(doc)
                added.append(doc)
        if added:
            if not self.task_chosen_by_user and self.task is None:
                self.set_task(infer_task(added[0].path), by_user=False)
            self.documents_added.emit(added)
            if self.current is None:
                self.set_current(len(self.documents) - len(added))
        return added

    def load(self, doc: ImageDocument) -> ImageDocument:
        """Read the document's image if not yet read (raises InputFileError); may infer the task."""
        if not doc.is_loaded:
            try:
                image = read_image(doc.path)
            except LeafError as error:
                doc.load_error = str(error)
                raise
            doc.set_image(image)
            if not self.task_chosen_by_user:
                inferred = infer_task(doc.path, image.meta.modality)
                if inferred is not None and inferred != self.task:
                    self.set_task(inferred, by_user=False)
            self.document_loaded.emit(doc)
        return doc

    def set_current(self, index: int) -> None:
        if not self.documents:
            return
        index = max(0, min(index, len(self.documents) - 1))
        if index != self.current_index:
            self.current_index = index
            self.current_changed.emit(index)

    def go_next(self) -> None:
        self.set_current(self.current_index + 1)

    def go_previous(self) -> None:
        self.set_current(self.current_index - 1)

    def set_task(self, task: Task | None, by_user: bool = True) -> None:
        if by_user:
            self.task_chosen_by_user = True
        if task != self.task:
            self.task = task
            self.task_changed.emit(task)

    @property
    def unsaved_documents(self) -> list[ImageDocument]:
        return [d for d in self.documents if d.has_unsaved_edits]
