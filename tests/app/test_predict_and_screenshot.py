"""Prediction off the GUI thread with a tiny real model, and `leaf-annotate --screenshot`."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app_helpers import write_rgb
from leaf_app.document.image_document import DocState


def test_predict_key_runs_off_thread_and_status_names_the_model(make_window, qtbot, image_folder, tiny_model_dir):
    window = make_window(model_override=tiny_model_dir)
    window.open_paths([image_folder])
    assert window.actions["predict"].isEnabled()
    with qtbot.waitSignal(window.prediction.job_done, timeout=60_000) as done:
        qtbot.keyClick(window.canvas, Qt.Key.Key_P)
        assert window.prediction.busy and not window.actions["predict"].isEnabled()
    assert done.args == [True]
    doc = window.current
    assert doc.state is DocState.PREDICTED and doc.mask.shape == (60, 80)
    assert str(doc.prediction_model) == "tiny test model 1"
    assert window.model_label.text() == "Mask by tiny test model 1"
    assert "predicted" in window.file_list.item(0).text()
    assert window.session.documents[1].state is DocState.NOT_PREDICTED
    # uncertainty from a few seeds, shown as its own layer
    with qtbot.waitSignal(window.prediction.job_done, timeout=60_000):
        window.actions["uncertainty"].trigger()
    assert doc.uncertainty is not None and doc.uncertainty.shape == (60, 80)
    assert window.canvas.uncertainty_layer.isVisible()


def test_batch_predict_shows_progress_and_can_be_cancelled(make_window, qtbot, image_folder, tiny_model_dir):
    window = make_window(model_override=tiny_model_dir)
    window.open_paths([image_folder])
    progress = []
    window.prediction.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(window.prediction.job_done, timeout=60_000):
        window.actions["predict_all"].trigger()
        assert window.progress_bar.isVisible()
    assert progress[-1] == (3, 3)
    assert all(d.state is DocState.PREDICTED for d in window.session.documents)
    assert not window.progress_bar.isVisible()
    # cancel: a new batch over more images stops early
    for i in range(3, 12):
        write_rgb(image_folder / f"img{i}.png", seed=i)
    window.open_paths([image_folder])
    with qtbot.waitSignal(window.prediction.job_done, timeout=60_000) as done:
        window.actions["predict_all"].trigger()
        window.cancel_button.click()
    assert done.args == [False]
    assert any(d.state is DocState.NOT_PREDICTED for d in window.session.documents)


def test_choose_model_folder_is_remembered_per_task(make_window, monkeypatch, image_folder, tiny_model_dir):
    window = make_window()
    window.open_paths([image_folder])
    assert not window.actions["predict"].isEnabled()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_model_dir))
    window.actions["choose_model"].trigger()
    assert window.actions["predict"].isEnabled() and "press P" in window.model_label.text()
    window.set_task("fundus")  # another task has no model yet
    assert not window.actions["predict"].isEnabled() and "No model for Fundus" in window.model_label.text()
    second = make_window()
    second.set_task("colonoscopy")
    assert second.prediction.model_dir() == tiny_model_dir


def test_screenshot_renders_the_window_with_a_prediction(tmp_path, qapp, image_folder, tiny_model_dir, leaf_data_dir,
                                                         monkeypatch):
    import sys

    from leaf_app.main import main

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # main() installs its own; put it back after

    out = tmp_path / "shot.png"
    assert main(["--screenshot", str(out), "--size", "900x600", "--model", str(tiny_model_dir),
                 str(image_folder / "img1.png")]) == 0
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert pixels.shape == (600, 900, 3)
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
    assert (leaf_data_dir / "leaf-annotate.log").exists()
