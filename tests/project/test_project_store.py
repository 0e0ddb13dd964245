"""Corrections store: save, history, export with a stable split, clean-up, crash consistency."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from project_helpers import SIZE, make_png, mask_for

from leaf_core.errors import LeafError
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.io.images import read_image
from leaf_core.io.masks import read_mask
from leaf_core.project.store import CorrectionStore
from leaf_core.testing import dicom_dataset, save_dicom

HERE = Path(__file__).resolve().parent
MAX_KILL_ROUNDS = 120


@pytest.fixture
def store(tmp_path: Path) -> CorrectionStore:
    with CorrectionStore.create(tmp_path / "project") as created:
        yield created


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "Patient Smith"
    folder.mkdir()
    return [make_png(folder / f"image{i}.png", i) for i in range(8)]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_project_is_private_and_save_round_trips(store: CorrectionStore, images: list[Path]) -> None:
    corrected, original = mask_for(1), mask_for(2)
    record = store.save_correction(images[0], corrected, original, "v3", "dr. who", task="polyp")

    assert _mode(store.root) == 0o700
    assert _mode(store.root / "catalog.sqlite") == 0o600
    for path in (record.image_path, record.corrected_mask_path, record.original_mask_path):
        assert _mode(path) == 0o600
        assert path.parent == store.files_dir
    np.testing.assert_array_equal(read_image(record.image_path).rgb, read_image(images[0]).rgb)  # pixels only
    np.testing.assert_array_equal(record.read_corrected_mask(), corrected)
    np.testing.assert_array_equal(read_mask(record.original_mask_path), original)
    assert record.revision == 1 and record.model_version == "v3" and record.author == "dr. who"
    assert record.task == "polyp" and (record.height, record.width) == SIZE
    inter = np.logical_and(corrected, original).sum()
    assert record.dice_change == pytest.approx(2 * inter / (corrected.sum() + original.sum()))
    assert record.created_utc.endswith("+00:00")
    assert record.source_name is None  # display names are off unless the project turns them on
    assert b"Smith" not in (store.root / "catalog.sqlite").read_bytes()
    assert b"image0" not in (store.root / "catalog.sqlite").read_bytes()


def test_display_names_only_when_the_project_keeps_them(tmp_path: Path, images: list[Path]) -> None:
    with CorrectionStore.create(tmp_path / "named", keep_display_names=True) as store:
        assert store.keep_display_names
        record = store.save_correction(images[0], mask_for(1), None, None, "a")
        # Only the file name is kept: the folder ("Patient Smith") never reaches the catalog.
        assert record.source_name == "image0.png"
        assert b"Smith" not in (store.root / "catalog.sqlite").read_bytes()
        store.set_keep_display_names(False)  # turning it off erases the names, bytes included
        assert store.latest_correction(record.image_key).source_name is None
        assert b"image0" not in (store.root / "catalog.sqlite").read_bytes()
        store.save_correction(images[1], mask_for(2), None, None, "a")
    with CorrectionStore.open(tmp_path / "named") as reopened:
        assert not reopened.keep_display_names
        assert [r.source_name for r in reopened.latest_corrections()] == [None, None]


def test_history_keeps_every_revision(store: CorrectionStore, images: list[Path]) -> None:
    first = store.save_correction(images[0], mask_for(1), mask_for(1), "v1", "a")
    second = store.save_correction(images[0], mask_for(2), mask_for(1), "v1", "b")
    store.save_correction(images[1], mask_for(3), None, None, "a")

    history = store.history(first.image_key)
    assert [r.revision for r in history] == [1, 2]
    np.testing.assert_array_equal(history[0].read_corrected_mask(), mask_for(1))  # old files untouched
    np.testing.assert_array_equal(history[1].read_corrected_mask(), mask_for(2))
    assert history[0].dice_change == 1.0
    assert history[0].image_path == history[1].image_path  # the same bytes are stored once
    latest = store.latest_corrections()
    assert [r.id for r in latest] == [second.id, latest[1].id]
    assert latest[1].original_mask_path is None and latest[1].dice_change is None
    assert store.image_count() == 2
    assert store.image_key_for(images[0]) == first.image_key

    with CorrectionStore.open(store.root) as reopened:  # the history survives reopening
        assert [r.id for r in reopened.history(first.image_key)] == [first.id, second.id]


def test_save_rejects_bad_input(store: CorrectionStore, images: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mask shapes differ"):
        store.save_correction(images[0], mask_for(1), np.zeros((3, 3), bool), None, "a")
    with pytest.raises(ValueError, match="HxW"):
        store.save_correction(images[0], np.zeros((2, 2, 3)), None, None, "a")
    with pytest.raises(ValueError, match="author"):
        store.save_correction(images[0], mask_for(1), None, None, " ")
    with pytest.raises(LeafError, match="missing.png"):
        store.save_correction(tmp_path / "missing.png", mask_for(1), None, None, "a")
    with pytest.raises(LeafError, match=r"image0\.png.*mask is 3x2 but its image is 32x24"):
        store.save_correction(images[0], np.zeros((2, 3), bool), None, None, "a")
    assert store.latest_corrections() == [] and list(store.files_dir.iterdir()) == []


def test_create_and_open_refuse_the_wrong_folder(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(LeafError, match="not empty"):
        CorrectionStore.create(tmp_path / "full")
    with pytest.raises(LeafError, match="not a LEAF project"):
        CorrectionStore.open(tmp_path / "full")


def test_open_removes_what_a_killed_save_left(store: CorrectionStore, images: list[Path]) -> None:
    record = store.save_correction(images[0], mask_for(1), None, None, "a")
    (store.files_dir / ".abc.png.x1.tmp").write_bytes(b"half")
    (store.files_dir / ("0" * 64 + ".png")).write_bytes(b"unreferenced")
    with CorrectionStore.open(store.root) as reopened:
        assert sorted(p.name for p in reopened.files_dir.iterdir()) == sorted(
            [record.image_path.name, record.corrected_mask_path.name]
        )


def test_dicom_is_never_stored_without_de_identification(store: CorrectionStore, tmp_path: Path) -> None:
    ds = dicom_dataset(np.arange(SIZE[0] * SIZE[1], dtype=np.uint8).reshape(SIZE), PatientName="Smith^John",
                       PatientID="ID-4711")
    source = save_dicom(ds, tmp_path / "Smith_John.dcm")
    first = store.save_correction(source, mask_for(1), None, None, "a")
    second = store.save_correction(source, mask_for(2), None, None, "a")
    assert first.source_name is None and first.source_format == "dicom"
    assert second.image_key == first.image_key and second.image_path == first.image_path  # same copy, stored once
    stored = pydicom.dcmread(first.image_path)
    assert stored.PatientIdentityRemoved == "YES" and not stored.PatientName and not stored.PatientID
    for path in [store.root / "catalog.sqlite", *store.files_dir.iterdir()]:
        assert b"Smith" not in path.read_bytes() and b"4711" not in path.read_bytes(), path
    np.testing.assert_array_equal(read_image(first.image_path).intensity, read_image(source).intensity)


def test_export_layout_and_split_stay_stable(store: CorrectionStore, images: list[Path], tmp_path: Path) -> None:
    store.save_correction(images[0], mask_for(0), None, None, "a")
    with pytest.raises(LeafError, match="no saved corrections"):
        CorrectionStore.create(tmp_path / "empty").export_dataset(tmp_path / "never")
    one = json.loads((store.export_dataset(tmp_path / "e1") / "splits.json").read_text())
    assert one == {"train": [store.image_key_for(images[0])], "val": [], "test": []}

    store.save_correction(images[1], mask_for(1), None, None, "a")
    store.save_correction(images[0], mask_for(10), None, None, "a")  # a newer revision is what gets exported
    out = store.export_dataset(tmp_path / "e2", val_fraction=0.2, seed=0)
    assert _mode(out) == 0o700
    two = json.loads((out / "splits.json").read_text())
    assert len(two["val"]) == 1 and len(two["train"]) == 1 and two["test"] == []
    assert set(one["train"]) <= set(two["train"])
    dataset = DatasetFolder(out)
    key0 = store.image_key_for(images[0])
    np.testing.assert_array_equal(read_mask(dataset.mask_path(key0)), mask_for(10))
    np.testing.assert_array_equal(read_image(dataset.image_path(key0)).rgb, read_image(images[0]).rgb)
    assert dataset.image_path(key0).name == f"{key0}.png"
    assert sorted(dataset.split("train") + dataset.split("val")) == dataset.ids

    previous = two
    for i in range(2, 8):
        store.save_correction(images[i], mask_for(i), None, None, "a")
        now = json.loads((store.export_dataset(tmp_path / f"e{i + 1}") / "splits.json").read_text())
        assert set(previous["val"]) <= set(now["val"]) and set(previous["train"]) <= set(now["train"])
        previous = now
    assert len(previous["train"]) + len(previous["val"]) == 8 and len(previous["val"]) == 2

    other_seed = json.loads((store.export_dataset(tmp_path / "seed1", seed=1) / "splits.json").read_text())
    assert other_seed["val"] and len(other_seed["train"]) + len(other_seed["val"]) == 8
    with pytest.raises(LeafError, match="not empty"):
        store.export_dataset(tmp_path / "e2")


def test_val_holds_the_fraction_of_the_images_exactly_and_keeps_its_members(store: CorrectionStore) -> None:
    keys = [f"{i:016x}" for i in range(100)]
    # the nearest count to 20%, at least one of two or more, never all
    expected = {1: 0, 2: 1, 3: 1, 10: 2, 12: 2, 13: 3, 20: 4, 23: 5, 50: 10, 100: 20}
    previous: dict[str, str] = {}
    for n in range(1, len(keys) + 1):  # one correction at a time, as a clinic adds them
        parts = store.assign_splits(keys[:n], 0.2, seed=0)
        n_val = list(parts.values()).count("val")
        assert n_val == expected.get(n, n_val) and (n_val == 0) == (n == 1) and n_val < n
        assert abs(n_val - 0.2 * n) <= 0.5 or n_val == 1, (n, n_val)
        assert {k: parts[k] for k in previous} == previous  # nobody changes part
        previous = parts
    at_once = store.assign_splits(keys[:20], 0.2, seed=7)  # another scheme, 20 corrections at once
    assert list(at_once.values()).count("val") == 4 and at_once != {k: previous[k] for k in keys[:20]}


def test_image_keys_are_salted_per_project(tmp_path: Path, images: list[Path]) -> None:
    # Someone who has a patient's file (or DICOM UIDs) cannot look the image up in another project.
    a = CorrectionStore.create(tmp_path / "a")
    b = CorrectionStore.create(tmp_path / "b")
    assert a.image_key_for(images[0]) == a.image_key_for(images[0]) != b.image_key_for(images[0])
    # A benchmark that must repeat fixes the salt, and with it the keys and the val split.
    c, d = (CorrectionStore.create(tmp_path / name, salt="benchmark") for name in "cd")
    assert c.image_key_for(images[0]) == d.image_key_for(images[0]) != a.image_key_for(images[0])
    for project in (c, d):
        for i, image in enumerate(images):
            project.save_correction(image, mask_for(i), None, None, "a")
    exported = [json.loads((p.export_dataset(tmp_path / f"export-{n}") / "splits.json").read_text())
                for n, p in zip("cd", (c, d))]
    assert exported[0] == exported[1] and len(exported[0]["val"]) == 2  # 8 images


# ------------------------------------------------------------------ crash test
def _check_store_consistent(root: Path, images: list[Path]) -> int:
    """Every row's files exist, decode and hold what the writer saved for that row; no stray files."""
    with sqlite3.connect(root / "catalog.sqlite") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with CorrectionStore.open(root) as store:  # opening cleans what the killed save left
        rows = [r for latest in store.latest_corrections() for r in store.history(latest.image_key)]
        sources = {store.image_key_for(p): read_image(p).rgb for p in images}
        referenced = set()
        for record in rows:
            n = int(record.author.split("-")[1])
            np.testing.assert_array_equal(record.read_corrected_mask(), mask_for(n))
            if n % 2:
                np.testing.assert_array_equal(record.read_original_mask(), mask_for(n + 100000))
                assert record.model_version == "v1" and record.dice_change is not None
            else:
                assert record.original_mask_path is None and record.dice_change is None
            np.testing.assert_array_equal(read_image(record.image_path).rgb, sources[record.image_key])
            referenced |= {record.image_path.name, record.corrected_mask_path.name}
            if record.original_mask_path is not None:
                referenced.add(record.original_mask_path.name)
        for latest in store.latest_corrections():
            assert [r.revision for r in store.history(latest.image_key)] == list(
                range(1, len(store.history(latest.image_key)) + 1)
            )
        numbers = sorted(int(r.author.split("-")[1]) for r in rows)
        assert numbers == list(range(1, len(rows) + 1))  # saves are all-or-nothing and in order
        assert {p.name for p in store.files_dir.iterdir()} == referenced
    return len(rows)


def test_killed_writer_never_leaves_a_half_written_save(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    images = [make_png(folder / f"image{i}.png", i) for i in range(3)]
    root = tmp_path / "project"
    CorrectionStore.create(root).close()
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(HERE / "crash_writer.py"), str(root), str(folder)]

    def spawn() -> subprocess.Popen:
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)

    saved = 0
    upcoming = spawn()
    try:
        # 30 kills at least, more on a busy machine until 30 saves have landed between them
        for round_ in range(MAX_KILL_ROUNDS):
            if round_ >= 30 and saved >= 30:
                break
            writer, upcoming = upcoming, spawn()  # the next one imports while this one is checked
            try:
                writer.stdin.write("go\n")
                writer.stdin.flush()
                assert writer.stdout.readline().strip() == "ready"
                time.sleep(rng.uniform(0.0, 0.15))
                assert writer.poll() is None, "the writer stopped by itself"
                writer.send_signal(signal.SIGKILL)
            finally:
                _stop(writer)
            count = _check_store_consistent(root, images)
            assert count >= saved
            saved = count
    finally:
        if upcoming is not None:
            _stop(upcoming)
    assert saved >= 30  # the kills landed while saves were going on


def _stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()
    process.stdin.close()
    process.stdout.close()
