"""The project's SQLite catalog: schema, connection settings and the write lock.

One file, ``catalog.sqlite``, in a rollback journal with ``synchronous=FULL``: a transaction is
either all on disk or none of it, whatever instant the process dies at. Rows only name files
that were written (and fsynced) before the transaction that names them commits.
``secure_delete`` is on, so a value that is deleted or overwritten (a display name, when the
project stops keeping them) is zeroed in the file, not left in a free page.

Versions: 1 (no redactions, display names always kept for non-DICOM images), 2 (redaction
boxes per correction; display names only when the project's ``keep_display_names`` is on).
A version 1 catalog is upgraded when its project is opened (``CorrectionStore.open``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from leaf_core.errors import LeafError

SCHEMA_VERSION = 2
KEEP_DISPLAY_NAMES = "keep_display_names"
REDACTION_WARNING_SHOWN = "redaction_warning_shown"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_key TEXT NOT NULL,          -- stable, identifier-free key of the source image
    revision INTEGER NOT NULL,        -- 1, 2, ... per image: saving again keeps the history
    source_name TEXT,                 -- display name (file name only) if the project keeps them, else NULL
    source_format TEXT NOT NULL,      -- 'dicom' or the lower-case suffix without the dot
    frame INTEGER,                    -- frame of a multi-frame image, else NULL
    image_file TEXT NOT NULL,         -- under files/: the training copy (training_copy.py)
    corrected_file TEXT NOT NULL,     -- under files/: PNG 0/255
    original_file TEXT,               -- under files/: the model's mask, NULL without one
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    model_version TEXT,               -- model version that made the original mask
    author TEXT NOT NULL,
    task TEXT,
    created_utc TEXT NOT NULL,        -- ISO 8601, UTC
    dice_change REAL,                 -- Dice(original, corrected), NULL without an original
    redactions TEXT,                  -- JSON [[x0, y0, x1, y1], ...] painted black in image_file, NULL: none
    UNIQUE (image_key, revision)
);
CREATE INDEX IF NOT EXISTS corrections_by_image ON corrections (image_key, revision);
CREATE TABLE IF NOT EXISTS split_assignments (
    scheme TEXT NOT NULL,             -- e.g. 'seed=0 val=0.2': one stable split per scheme
    image_key TEXT NOT NULL,
    part TEXT NOT NULL CHECK (part IN ('train', 'val')),
    PRIMARY KEY (scheme, image_key)
);
"""


def connect(path: Path, create: bool = False) -> sqlite3.Connection:
    """Open the catalog in autocommit mode (transactions are explicit) with durable commits."""
    if not create and not path.is_file():
        raise LeafError(f"'{path.parent}' is not a LEAF project (no {path.name} inside)")
    try:
        connection = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA secure_delete=ON")
        return connection
    except sqlite3.DatabaseError as error:
        raise LeafError(f"cannot open the project catalog '{path}': {error}") from error


def create_schema(connection: sqlite3.Connection, salt: str | None = None) -> None:
    """Create the tables (idempotent) and record the schema version; ``salt``: the project's secret
    (default: a random one)."""
    with transaction(connection):
        # One statement per execute (executescript would commit on its own); SCHEMA has no ';' in comments.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        # The project's secret: salts image keys and de-identified DICOM UIDs, so that someone who
        # knows a patient's original UIDs cannot recompute them to find the patient's images.
        connection.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('secret_salt', ?)", (salt or secrets.token_hex(16),)
        )
        connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", (KEEP_DISPLAY_NAMES,))


def upgrade_from_version_1(connection: sqlite3.Connection) -> None:
    """The schema changes from version 1 to 2, inside the caller's transaction (the store also
    rewrites the stored files and clears the display names in that transaction)."""
    connection.execute("ALTER TABLE corrections ADD COLUMN redactions TEXT")
    connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '0')", (KEEP_DISPLAY_NAMES,))
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def read_meta(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])


def write_meta(connection: sqlite3.Connection, key: str, value: str) -> None:
    """Set one meta value in its own transaction."""
    with transaction(connection) as db:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def check_schema(connection: sqlite3.Connection, path: Path) -> int:
    """The catalog's schema version; refuse one written by a newer LEAF (its rows may mean
    something we do not know)."""
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as error:
        raise LeafError(f"cannot read the project catalog '{path}': {error}") from error
    if row is None:
        raise LeafError(f"cannot read the project catalog '{path}': no schema version")
    if int(row["value"]) > SCHEMA_VERSION:
        raise LeafError(
            f"the project '{path.parent}' was written by a newer LEAF Annotate "
            f"(catalog version {row['value']}, this one reads {SCHEMA_VERSION}); please update"
        )
    return int(row["value"])


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


@contextlib.contextmanager
def project_lock(lock_path: Path) -> Iterator[None]:
    """Exclusive lock across processes for writes and clean-up (no-op where flock is missing).

    A save writes its files before the catalog row that names them; clean-up deletes files no row
    names. The lock keeps clean-up in one process from deleting a save in flight in another.
    """
    try:
        import fcntl
    except ImportError:  # Windows: one app instance per project is the rule there
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
