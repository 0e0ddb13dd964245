"""The Model versions menu: every version of the project with its val Dice; check one to use it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from leaf_core.project.versions import ModelVersions

NO_VERSIONS_TEXT = "No model versions yet (Fine-tune creates one)"


class ModelVersionsMenu(QMenu):
    """Lists the versions (rebuilt each time it opens); the current one is checked.

    Choosing a version makes it current (models/current.json) and emits currentVersionChanged
    with its name; the window then loads that model for prediction.
    """

    currentVersionChanged = Signal(str)

    def __init__(self, versions: ModelVersions | None, title: str = "Model versions", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._versions = versions
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def set_versions(self, versions: ModelVersions | None) -> None:
        """Show another project's versions (None: no project open)."""
        self._versions = versions
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        for action in self._group.actions():
            self._group.removeAction(action)
        versions = [] if self._versions is None else self._versions.list_versions()
        if not versions:
            empty = self.addAction(NO_VERSIONS_TEXT)
            empty.setEnabled(False)
            return
        current = self._versions.current_version()
        for version in reversed(versions):  # newest first
            action = QAction(version.label(), self)
            action.setCheckable(True)
            action.setChecked(version.name == current)
            action.setData(version.name)
            tip = [f"made {version.created_utc}" if version.created_utc else "", version.notes]
            action.setToolTip("\n".join(t for t in tip if t))
            action.triggered.connect(lambda _checked=False, name=version.name: self._choose(name))
            self._group.addAction(action)
            self.addAction(action)

    def version_actions(self) -> list[QAction]:
        return [a for a in self.actions() if a.data()]

    def _choose(self, name: str) -> None:
        if self._versions is None or name == self._versions.current_version():
            return
        self._versions.set_current(name)
        self.refresh()
        self.currentVersionChanged.emit(name)
