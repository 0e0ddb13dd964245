"""Errors meant for people: each says which file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class LeafError(Exception):
    """An error whose message is shown to the user as it is (no traceback)."""


class InputFileError(LeafError):
    """A file that cannot be used, with the file and the problem named."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"cannot read '{self.path}': {problem}")


class ModelLoadError(LeafError):
    """A model folder or checkpoint that cannot be loaded (missing, wrong shape, unsafe)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"cannot load model '{self.path}': {problem}")
