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


PLAIN = (200, 40, 160)  # a colour no widget of the window uses
MASK_BGR = (80, 230, 40)  # leaf_app.ui.layers.MASK_COLOUR_BGR, drawn at the canvas's 0.5 opacity
OVERLAID = tuple(round((plain + mask) / 2) for plain, mask in zip(PLAIN, MASK_BGR[::-1]))


def constant_mask_model(folder, foreground: bool):
    """A model on the embedded TAESD whose U-Net always outputs the latent of an all-foreground
    (or all-background) mask, so its prediction is known without training."""
    import torch

    from leaf_core.model.autoencoder import encode_latent, load_autoencoder, masks_to_autoencoder_input
    from leaf_core.model.image_encoder import ImageEncoder
    from leaf_core.model.leaf_model import LeafModel
    from leaf_core.testing import build_tiny_model
    from leaf_core.weights import EMBEDDED_TAESD

    tiny = build_tiny_model()
    autoencoder = load_autoencoder(EMBEDDED_TAESD)
    unet = type(tiny.unet).from_config({**tiny.unet.config})
    with torch.no_grad():
        mask = torch.full((1, 1, 64, 64), float(foreground))
        latent = encode_latent(autoencoder, masks_to_autoencoder_input(mask)).mean(dim=(0, 2, 3))
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.copy_(latent)
    return LeafModel(autoencoder, ImageEncoder.from_autoencoder(autoencoder), unet, tiny.config, tiny.card).save_pretrained(folder)


def colour_count(pixels: np.ndarray, rgb: tuple[int, ...], tolerance: int = 3) -> int:
    return int((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=-1) <= tolerance).sum())


def test_screenshot_shows_the_overlay_exactly_where_the_mask_is(tmp_path, qapp, leaf_data_dir, monkeypatch):
    """`leaf-annotate --screenshot` of a plain image: with a model that predicts everything, the
    image is tinted with the overlay colour and no bare pixel is left; with one that predicts
    nothing, it is all bare. (A bare image would fail the first, a missing image the second.)"""
    import sys

    from leaf_app.main import main

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # main() installs its own; put it back after
    image = tmp_path / "kvasir-plain" / "plain.png"
    image.parent.mkdir()
    Image.fromarray(np.full((120, 160, 3), PLAIN, np.uint8)).save(image)
    shots = {}
    for foreground in (True, False):
        model = constant_mask_model(tmp_path / f"model-{foreground}", foreground)
        out = tmp_path / f"shot-{foreground}.png"
        assert main(["--screenshot", str(out), "--size", "900x600", "--model", str(model), str(image)]) == 0
        shots[foreground] = np.asarray(Image.open(out).convert("RGB"))
        assert shots[foreground].shape == (600, 900, 3)
    image_area = 0.8 * 120 * 160  # shown at least 1:1 when fitted to a 900x600 window
    assert colour_count(shots[True], OVERLAID) > image_area and colour_count(shots[True], PLAIN) == 0
    assert colour_count(shots[False], PLAIN) > image_area and colour_count(shots[False], OVERLAID) == 0
    assert (leaf_data_dir / "leaf-annotate.log").exists()
