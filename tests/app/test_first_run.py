"""A new user's first minutes: no model and no settings, masks imported from another tool, Train
first model, the new model's overlay on the open image, and Next image to correct.

Driven as a person does (menus, the banner's buttons, the N key) on 16 real kvasir-seg images.
The training is real (`leaf train --preset cpu` with the embedded TAESD) but short. Screenshots of
each state go to $LEAF_SCREENSHOT_DIR (docs/screenshots when refreshing the README's), else tmp.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from leaf_app.document.image_document import DocState
from leaf_core.io.masks import read_mask
from leaf_core.project.first_model import first_model_settings

pytestmark = [pytest.mark.slow, pytest.mark.shared]

# The app's recipe (frozen encoder layers included), shortened and at 64 px so the test is quick.
SHORT_FIRST_MODEL = dataclasses.replace(first_model_settings(12), steps=30, resolution=64, warmup_steps=5, val_every=15)
TRAIN_TIMEOUT_MS = 300_000


@pytest.fixture
def kvasir(shared_path) -> Path:
    return shared_path("data", "kvasir-seg")


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("LEAF_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(window, qtbot, folder: Path, name: str) -> Path:
    qtbot.wait(50)
    window.canvas.fit_to_window()
    qtbot.wait(50)
    path = folder / name
    assert window.grab().save(str(path))
    return path


def overlay_differs_exactly_on_the_mask(window, doc) -> None:
    """The visible overlay layer is opaque exactly where the mask is."""
    layer = window.canvas.mask_layer
    assert layer.isVisible() and layer.buffer.shape[:2] == doc.mask.shape
    assert np.array_equal(layer.buffer[..., 3] > 0, doc.mask)


def reference_fakes():
    """tests/convert/reference_fakes.py (fake released weights), loaded by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "convert" / "reference_fakes.py"
    spec = importlib.util.spec_from_file_location("reference_fakes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_run_import_masks_train_first_model_predict_and_next_to_correct(
        make_window, qtbot, monkeypatch, tmp_path, kvasir, screenshots):
    train_ids = sorted(p.stem for p in (kvasir / "images").iterdir())[:12]
    extra_ids = sorted(p.stem for p in (kvasir / "images").iterdir())[12:16]
    images = tmp_path / "kvasir-clinic" / "images"  # the folder name tells the app: colonoscopy
    masks = tmp_path / "masks-from-another-tool"
    images.mkdir(parents=True)
    masks.mkdir()
    for image_id in train_ids + extra_ids:
        shutil.copy(kvasir / "images" / f"{image_id}.jpg", images)
    for i, image_id in enumerate(train_ids):  # masks as other tools write them
        truth = read_mask(kvasir / "masks" / f"{image_id}.png")
        if i == 0:
            Image.fromarray(truth.astype(np.uint8)).save(masks / f"{image_id}_mask.png")  # 0/1
        elif i == 1:
            Image.fromarray(np.where(truth, 200, 30).astype(np.uint8)).save(masks / f"{image_id}.tif")  # two levels
        else:
            shutil.copy(kvasir / "masks" / f"{image_id}.png", masks / f"{image_id}.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(masks / "someone-else.png")  # matches no open image

    window = make_window()
    panel = window.model_setup_panel
    window.open_paths([images])
    assert window.session.task.name == "colonoscopy"
    assert panel.isVisible() and "No model for Colonoscopy (polyp)" in panel.title.text()
    assert not panel.train_button.isEnabled() and "0 of the 10" in panel.explanation.text()
    assert all(b.isVisible() for b in (panel.open_button, panel.import_button, panel.train_button))
    shoot(window, qtbot, screenshots, "first-run-no-model.png")

    project = tmp_path / "project"
    folders = {"New project": project, "Import masks": masks}
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda parent, caption, *a, **k: str(next(f for key, f in folders.items() if key in caption)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)  # make a project
    reports, warnings = [], []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text, *a: reports.append(text))
    monkeypatch.setattr(QMessageBox, "warning",  # the once-per-project burned-in text warning: save anyway
                        lambda parent, title, text, *a: warnings.append(text) or QMessageBox.StandardButton.Save)
    window.project.actions["import_masks"].trigger()
    assert len(warnings) == 1 and "burned-in" in warnings[0].lower()
    assert window.project.store.image_count() == 12
    assert reports and reports[0].startswith("Imported 12 mask(s)")
    assert "someone-else.png: no open image has this name" in reports[0]
    imported = [d for d in window.session.documents if d.path.stem in train_ids]
    assert all(d.state is DocState.SAVED for d in imported)
    second = imported[1]  # the 30/200 TIFF: the brighter level is the polyp
    assert np.array_equal(second.mask, read_mask(kvasir / "masks" / f"{second.path.stem}.png"))
    assert panel.train_button.isEnabled() and "12 corrected images: ready to train" in panel.explanation.text()
    assert "(12 corrected image(s))" in window.statusBar().currentMessage()
    shoot(window, qtbot, screenshots, "first-run-masks-imported.png")

    # The user opens an image no mask came for; the new model will show itself there.
    first_extra = next(i for i, d in enumerate(window.session.documents) if d.path.stem in extra_ids)
    row = window.file_list.visualItemRect(window.file_list.item(first_extra)).center()
    qtbot.mouseClick(window.file_list.viewport(), Qt.MouseButton.LeftButton, pos=row)
    assert window.current is window.session.documents[first_extra] and window.current.state is DocState.NOT_PREDICTED

    monkeypatch.setattr("leaf_app.ui.model_setup.first_model_settings", lambda count: SHORT_FIRST_MODEL)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.progress_bar.isVisible() and panel.cancel_button.isVisible()
    qtbot.waitUntil(lambda: panel.progress_bar.value() >= 3, timeout=TRAIN_TIMEOUT_MS)
    assert "min left" in panel.progress_label.text() or "less than a minute" in panel.progress_label.text()
    shoot(window, qtbot, screenshots, "first-run-training.png")
    qtbot.waitUntil(lambda: window.prediction.model_dir() is not None, timeout=TRAIN_TIMEOUT_MS)
    store = window.project.store
    assert [v.name for v in store.models.list_versions()] == ["v1"] and store.models.current_version() == "v1"
    assert window.prediction.model_dir() == store.models.get("v1").path
    doc = window.current
    qtbot.waitUntil(lambda: doc.state is DocState.PREDICTED and not window.prediction.busy, timeout=120_000)
    assert doc.prediction_model.project_version == "v1"
    assert not panel.isVisible()
    assert "Mask by" in window.model_label.text() and "v1" in window.model_label.text()
    assert np.array_equal(doc.mask, independent_mask(store, doc))  # the new model's mask, not a stale one
    overlay_differs_exactly_on_the_mask(window, doc)
    for corrected in imported:  # the clinicians' masks stay as they were imported
        assert corrected.state is DocState.SAVED
        assert np.array_equal(corrected.mask, read_mask(kvasir / "masks" / f"{corrected.path.stem}.png"))
    shoot(window, qtbot, screenshots, "first-run-first-model.png")

    # Next image to correct: the open images without a correction, scored by the new model
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: not window.prediction.busy and window.current.path.stem in extra_ids, timeout=120_000)
    extras = [d for d in window.session.documents if d.path.stem in extra_ids]
    assert all(d.uncertainty_score is not None for d in extras)
    assert all(d.uncertainty_score is None for d in imported)  # corrected ones are not candidates
    assert window.current is max(extras, key=lambda d: d.uncertainty_score)
    assert window.current.uncertainty_score == pytest.approx(independent_scores(store, extras)[window.current.path])
    # Scoring for N leaves the view as it was: the map shows only when asked for (Compute uncertainty).
    assert not window.actions["show_uncertainty"].isChecked() and not window.canvas.uncertainty_layer.isVisible()
    row = window.session.documents.index(window.current)
    item = window.file_list.item(row)
    assert f"uncertainty {window.current.uncertainty_score:.3f}" in item.text() and item.text() in item.toolTip()
    # No horizontal scroll bar to hide the row's end: rows are elided in the middle, score in view.
    assert not window.file_list.horizontalScrollBar().isVisible()
    assert window.file_list.textElideMode() is Qt.TextElideMode.ElideMiddle
    shoot(window, qtbot, screenshots, "first-run-next-to-correct.png")


def v1_predictor(store):
    """The engine's own predictor on the project's v1 (not through the app)."""
    from leaf_core.inference import Predictor
    from leaf_core.model import LeafModel

    return Predictor(LeafModel.from_pretrained(store.models.get("v1").path))


def independent_mask(store, doc) -> np.ndarray:
    """The image's single-step mask, seed 0, from the engine directly."""
    from leaf_core.io.images import read_image

    predictor = v1_predictor(store)
    predictor.set_image(read_image(doc.path).rgb)
    return predictor.predict(seed=0).mask


def independent_scores(store, docs) -> dict[Path, float]:
    """Each image's mean ensemble uncertainty from the engine directly (not through the app)."""
    from leaf_core.io.images import read_image

    predictor = v1_predictor(store)
    scores = {}
    for doc in docs:
        predictor.set_image(read_image(doc.path).rgb)
        scores[doc.path] = float(predictor.predict_ensemble(4).uncertainty.mean())
    return scores


def test_import_released_weights_from_a_folder_becomes_the_model_in_use(make_window, qtbot, monkeypatch, tmp_path,
                                                                        image_folder):
    """The banner's second way: a released reference pipeline folder, converted by `leaf import-weights`."""
    pipeline = tmp_path / "released"
    reference_fakes().write_reference_folder(pipeline)
    window = make_window()
    window.open_paths([image_folder])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "project"))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (str(pipeline), True))
    qtbot.mouseClick(window.model_setup_panel.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.prediction.model_dir() is not None, timeout=TRAIN_TIMEOUT_MS)
    version = window.project.store.models.get("v1")
    assert version.notes == f"imported from {pipeline}"
    assert window.prediction.model_dir() == version.path
    qtbot.waitUntil(lambda: window.current.state is DocState.PREDICTED and not window.prediction.busy, timeout=120_000)


def test_a_first_model_being_trained_can_be_cancelled_and_leaves_the_project_as_it_was(
        make_window, qtbot, monkeypatch, tmp_path):
    import sys

    from app_helpers import write_rgb
    from leaf_core.project.model_jobs import ModelJob
    from leaf_core.project.store import CorrectionStore

    folder = tmp_path / "kvasir-cancel"
    paths = [write_rgb(folder / f"img{i}.png", seed=i) for i in range(10)]
    window = make_window()
    window.open_paths([folder])
    window.project.set_store(CorrectionStore.create(tmp_path / "project"))
    store = window.project.store
    mask = np.zeros((60, 80), bool)
    mask[10:30, 20:50] = True
    for path in paths:
        store.save_correction(path, mask, None, None, "tester")
    window.update_actions()
    panel = window.model_setup_panel
    assert panel.train_button.isEnabled()

    def slow_job(store, start_from, settings, autoencoder):  # a training process that takes its time
        staging = store.models.allocate_next()
        script = ("import json, time; print(json.dumps({'event': 'start', 'total_steps': 100, 'device': 'cpu'}), "
                  "flush=True); time.sleep(120)")
        return ModelJob((sys.executable, "-c", script), "train", staging, None, staging / "out", None, None)

    monkeypatch.setattr("leaf_app.ui.model_setup.prepare_job", slow_job)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.progress_bar.maximum() == 100, timeout=30_000)  # the start event arrived
    assert window.model_setup.busy and not panel.train_button.isVisible()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.model_setup.busy, timeout=30_000)
    assert store.models.list_versions() == [] and store.models.current_version() is None
    assert not [p for p in store.models.root.iterdir() if p.name.startswith(".staging")]
    assert panel.isVisible() and panel.train_button.isVisible() and panel.train_button.isEnabled()
    assert "cancelled" in window.statusBar().currentMessage()


def test_a_first_model_leaves_the_correction_on_the_open_image(make_window, qtbot, monkeypatch, tmp_path):
    """Training ends on a corrected image: its mask stays the clinician's until they press P."""
    import sys

    from app_helpers import write_rgb
    from leaf_core.project.model_jobs import ModelJob
    from leaf_core.testing import save_tiny_model

    images, masks = tmp_path / "kvasir-corrected", tmp_path / "masks"
    masks.mkdir()
    for i in range(10):
        write_rgb(images / f"img{i}.png", seed=i)
        mask = np.zeros((60, 80), np.uint8)
        mask[10 + i : 30 + i, 20:50] = 255
        Image.fromarray(mask).save(masks / f"img{i}.png")
    window = make_window()
    window.open_paths([images])
    folders = {"New project": tmp_path / "project", "Import masks": masks}
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda parent, caption, *a, **k: str(next(f for key, f in folders.items() if key in caption)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Save)
    window.project.actions["import_masks"].trigger()
    store, doc = window.project.store, window.current
    assert doc.state is DocState.SAVED and window.project.has_correction(doc)
    clinicians = doc.mask.copy()
    assert clinicians.any()

    def quick_job(store, start_from, settings, autoencoder):  # a training process that ends at once
        staging = store.models.allocate_next()
        save_tiny_model(staging / "out" / "model")
        script = ("import json; print(json.dumps({'event': 'start', 'total_steps': 1, 'device': 'cpu'})); "
                  "print(json.dumps({'event': 'done', 'best_val_dice': 0.5}), flush=True)")
        return ModelJob((sys.executable, "-c", script), "train", staging, None, staging / "out", None, None)

    monkeypatch.setattr("leaf_app.ui.model_setup.prepare_job", quick_job)
    qtbot.mouseClick(window.model_setup_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.models.current_version() == "v1" and not window.model_setup.busy, timeout=60_000)
    assert window.prediction.model_dir() == store.models.get("v1").path
    assert "keeps your correction" in window.statusBar().currentMessage()
    qtbot.wait(200)
    assert not window.prediction.busy and doc.state is DocState.SAVED and np.array_equal(doc.mask, clinicians)
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)  # asked for: the model's mask
    qtbot.waitUntil(lambda: doc.state is DocState.PREDICTED and not window.prediction.busy, timeout=60_000)
    assert doc.prediction_model.project_version == "v1"
