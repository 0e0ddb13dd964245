"""Where exported graphs live: one cache entry per model folder content, outside the model folder.

An entry's key is a content hash of what the graphs are made from (the weight and config files
of the model folder's components, leaf_config.json) and of what makes them (the engine's version,
torch's, GRAPH_FORMAT): a fine-tuned or replaced model folder gets a new entry, and the old entry
of that folder is removed once the new one is complete. Entries live under the user's data folder
(``<user data>/engine-cache``), never in the repository or the model folder.

    <entry>/meta.json            model folder, fingerprint, engine version, speed check, int8 record
    <entry>/<variant>/<graph>.*  the engine's files of each graph (variant "fp32" or "int8")
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from leaf_core.io.atomic import atomic_write_text
from leaf_core.logging_setup import user_data_dir
from leaf_core.model.config import CONFIG_FILE
from leaf_core.model.leaf_model import COMPONENTS

GRAPH_FORMAT = 1  # bump when graphs.py exports different graphs
META_FILE = "meta.json"


def cache_root() -> Path:
    """The folder holding every cache entry."""
    return user_data_dir() / "engine-cache"


def model_files(model_dir: Path) -> list[Path]:
    """The files the graphs are made from: leaf_config.json and every file of the component folders."""
    files = [model_dir / CONFIG_FILE]
    for component in COMPONENTS:
        files.extend(sorted(p for p in (model_dir / component).rglob("*") if p.is_file()))
    return files


def model_fingerprint(model_dir: Path, engine_version: str) -> str:
    """A sha256 over the model folder's graph-relevant files (names and contents) and the tool versions."""
    digest = hashlib.sha256(f"graphs {GRAPH_FORMAT} engine {engine_version} torch {torch.__version__}\n".encode())
    for path in model_files(model_dir):
        digest.update(f"{path.relative_to(model_dir).as_posix()} {file_sha256(path)}\n".encode())
    return digest.hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class CacheEntry:
    """The cache entry of one model folder's content for one engine."""

    folder: Path
    model_dir: Path
    engine: str
    fingerprint: str

    @classmethod
    def for_model(cls, model_dir: str | Path, engine: str, engine_version: str) -> "CacheEntry":
        model_dir = Path(model_dir).resolve()
        fingerprint = model_fingerprint(model_dir, engine_version)
        return cls(cache_root() / f"{engine}-{fingerprint[:24]}", model_dir, engine, fingerprint)

    def variant(self, name: str) -> Path:
        """The folder of one variant's graph files (it exists only once complete)."""
        return self.folder / name

    def has(self, name: str) -> bool:
        return self.variant(name).is_dir()

    def meta(self) -> dict:
        path = self.folder / META_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def update_meta(self, **fields: object) -> None:
        meta = {**self.meta(), "model_dir": str(self.model_dir), "engine": self.engine, "fingerprint": self.fingerprint,
                **fields}
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / META_FILE, json.dumps(meta, indent=1) + "\n")

    def staging(self, name: str) -> Path:
        """An empty folder to write a variant into; ``commit`` puts it in place."""
        staging = self.folder / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        return staging

    def commit(self, staging: Path, name: str, replace: bool = False) -> Path:
        """Move a finished variant in place (``replace``: over an earlier one; else one another
        process finished first is kept) and remove the entries of older contents of the same model folder."""
        target = self.variant(name)
        if replace:
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)
        self.remove_stale_entries()
        return target

    def remove_stale_entries(self) -> None:
        for other in cache_root().glob("*/" + META_FILE):
            if other.parent == self.folder:
                continue
            try:
                meta = json.loads(other.read_text())
            except (OSError, ValueError):
                continue
            same_folder = meta.get("model_dir") == str(self.model_dir) and meta.get("engine") == self.engine
            if same_folder and meta.get("fingerprint") != self.fingerprint:
                shutil.rmtree(other.parent, ignore_errors=True)
