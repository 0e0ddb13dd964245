"""Find the app's resources (icons, ...) in a source checkout and in a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_root() -> Path:
    """The resources/ folder: inside the bundle when frozen, else beside leaf_app/ in the checkout."""
    bundle = getattr(sys, "_MEIPASS", None)  # set by the PyInstaller bootloader
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(name: str) -> Path:
    """The file ``name`` (e.g. "icons/leaf-annotate.svg") under resources/.

    Raises FileNotFoundError naming the file and where it was looked for.
    """
    root = resources_root()
    path = root / name
    if not path.exists():
        raise FileNotFoundError(f"resource {name!r} is missing: looked in {root}")
    return path
