"""The correction loop in the real window: save corrections into a project, fine-tune, switch versions.

Driven as a person does (menu actions, keys, drags on the canvas); the file dialogs and questions
are patched to give the answers. Uses a few real polyp images from ../shared/data/kvasir-seg.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from leaf_app.document.image_document import DocState
from leaf_core.io.masks import read_mask
from leaf_core.metrics import dice_score
from leaf_core.project.store import CorrectionStore

pytestmark = pytest.mark.shared

REPO_ROOT = Path(__file__).resolve().parents[2]
KVASIR = REPO_ROOT.parent / "shared" / "data" / "kvasir-seg"
TRAINING_TIMEOUT_MS = 60_000


@pytest.fixture
def kvasir_images() -> list[Path]:
    if not (KVASIR / "images").is_dir():
        pytest.skip(f"needs the kvasir-seg images in {KVASIR} (the shared folder beside the repository), which are absent")
    return sorted((KVASIR / "images").iterdir())[:4]


def gt_mask(image: Path):
    return read_mask(KVASIR / "masks" / f"{image.stem}.png")


def project_window(make_window, **kwargs):
    window = make_window(**kwargs)
    return window


def answer_folder(monkeypatch, folder: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))


def view_pos(window, x, y) -> QPoint:
    return window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def paint(qtbot, window, points) -> None:
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=view_pos(window, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, pos=view_pos(window, *point))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=view_pos(window, *points[-1]))


def press_predict(qtbot, window) -> None:
    window.activateWindow()  # back from a dialog: shortcuts need the window active
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    with qtbot.waitSignal(window.prediction.job_done, timeout=60_000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_P)


def run_finetune(qtbot, dialog) -> str:
    """Press Start and wait for the new version's name (a failure fails the test with its message)."""
    dialog.start_button.click()
    assert dialog.runner.is_running(), dialog.status.text()
    qtbot.waitUntil(lambda: not dialog.runner.is_running(), timeout=TRAINING_TIMEOUT_MS)
    assert dialog.new_version is not None, dialog.status.text()
    return dialog.new_version


def save_key(qtbot, window) -> None:
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_s_saves_corrections_into_a_new_project(make_window, monkeypatch, qtbot, tmp_path, kvasir_images,
                                                    tiny_model_dir):
    window = project_window(make_window)
    window.set_task("colonoscopy")
    answer_folder(monkeypatch, tiny_model_dir)
    window.actions["choose_model"].trigger()
    window.open_paths(kvasir_images[:3])
    errors = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: errors.append(text))
    monkeypatch.setattr("leaf_app.ui.redact_tool.confirm_save_without_boxes", lambda *_: True)  # photos: asked once

    # 1. predicted, then corrected with the brush; no project yet: Ctrl+S offers to create one
    press_predict(qtbot, window)
    doc = window.current
    window.canvas.fit_to_window()
    window.canvas.set_brush_radius(20)
    paint(qtbot, window, [(150, 200), (300, 220), (400, 260)])
    assert doc.state is DocState.CORRECTED
    expected_change = dice_score(doc.predicted_mask, doc.mask)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    answer_folder(monkeypatch, tmp_path / "polyps")
    save_key(qtbot, window)
    assert len(asked) == 1 and not errors
    assert doc.state is DocState.SAVED and window.file_list.item(0).text().startswith("✓")
    assert "polyps" in window.windowTitle()

    # 2. drawn from scratch (never predicted)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    paint(qtbot, window, [(100, 100), (200, 120)])
    save_key(qtbot, window)
    # 3. predicted and accepted as is
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    press_predict(qtbot, window)
    save_key(qtbot, window)
    assert len(asked) == 1 and not errors  # the project is open now: no more questions
    assert all(window.file_list.item(i).text().startswith("✓") for i in range(3))

    store = window.project.store
    rows = store.latest_corrections()
    assert [r.source_name for r in rows] == [None] * 3  # display names are off by default (store.py)
    assert {r.author for r in rows} == {getpass.getuser()}
    assert rows[0].dice_change == pytest.approx(expected_change) and rows[0].dice_change < 1.0
    assert rows[0].model_version == "tiny test model 1"  # not a project version: the model's label
    assert rows[1].model_version is None and rows[1].dice_change is None
    assert rows[2].dice_change == 1.0 and rows[2].task == "colonoscopy"
    assert (rows[0].read_corrected_mask() == window.session.documents[0].mask).all()

    # a correction saved again is the image's next revision
    window.session.set_current(0)
    paint(qtbot, window, [(50, 50), (60, 60)])
    save_key(qtbot, window)
    assert [r.revision for r in store.history(rows[0].image_key)] == [1, 2]

    # the next start reopens the project
    second = project_window(make_window)
    assert second.project.store is not None and second.project.store.root == store.root
    assert "polyps" in second.windowTitle()

    # ... and the images opened again show their saved corrections (the latest revision), which
    # Predict all leaves alone
    second.set_task("colonoscopy")
    second.prediction.set_model_dir(tiny_model_dir)
    second.open_paths(kvasir_images[:3])
    second.actions["predict_all"].trigger()  # the two images not shown yet are not read, and not predicted
    qtbot.waitUntil(lambda: not second.prediction.busy, timeout=60_000)
    for index, record in enumerate(rows):
        second.session.set_current(index)
        shown = second.current
        latest = store.history(record.image_key)[-1].read_corrected_mask()
        assert shown.state is DocState.SAVED and second.file_list.item(index).text().startswith("✓")
        assert (shown.mask == latest).all() and (shown.mask == window.session.documents[index].mask).all()


def test_finetune_from_the_menu_then_switch_versions(make_window, monkeypatch, qtbot, tmp_path, kvasir_images,
                                                    tiny_model_dir):
    with CorrectionStore.create(tmp_path / "project") as store:
        for image in kvasir_images:
            store.save_correction(image, gt_mask(image), None, None, "tester", task="colonoscopy")
    window = project_window(make_window)
    window.set_task("colonoscopy")
    answer_folder(monkeypatch, tmp_path / "project")
    window.project.actions["open_project"].trigger()
    assert window.project.store.image_count() == 4
    window.prediction.set_model_dir(tiny_model_dir)  # the installed model, before the project has one
    window.open_paths(kvasir_images[:1])

    # first fine-tune: from the model in use; the project has no version, so v1 becomes current
    window.project.actions["finetune"].trigger()
    dialog = window.project.finetune_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.start_from.setCurrentIndex(dialog.start_from.findText("Model in use (tiny)"))
    assert dialog.start_from.currentData() == tiny_model_dir
    dialog.steps.setValue(dialog.steps.minimum())
    created = []
    dialog.versionCreated.connect(created.append)
    assert run_finetune(qtbot, dialog) == "v1" and created == ["v1"]
    v1 = window.project.store.models.get("v1")
    assert window.prediction.model_dir() == v1.path
    menu = window.project.versions_menu
    menu.aboutToShow.emit()
    assert [(a.data(), a.isChecked()) for a in menu.version_actions()] == [("v1", True)]
    dialog.keep_button.click()  # "Done": v1 is already the model in use
    assert not dialog.isVisible()
    press_predict(qtbot, window)
    assert window.current.prediction_model.project_version == "v1"
    assert window.model_label.text() == "Mask by tiny test model v1"

    # second fine-tune, from v1: v2 is offered, and the user switches to it
    window.project.actions["finetune"].trigger()
    dialog = window.project.finetune_dialog
    assert dialog.start_from.currentData() == "v1"
    dialog.steps.setValue(dialog.steps.minimum())
    assert run_finetune(qtbot, dialog) == "v2"
    assert window.prediction.model_dir() == v1.path  # nothing changes until the user says so
    dialog.switch_button.click()
    assert window.prediction.model_dir() == window.project.store.models.get("v2").path
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    press_predict(qtbot, window)
    assert window.model_label.text() == "Mask by tiny test model v2"

    # back to v1 from Model ▸ Model versions
    menu.aboutToShow.emit()
    assert [(a.data(), a.isChecked()) for a in menu.version_actions()] == [("v2", True), ("v1", False)]
    next(a for a in menu.version_actions() if a.data() == "v1").trigger()
    assert window.project.store.models.current_version() == "v1"
    assert window.prediction.model_dir() == v1.path
    press_predict(qtbot, window)
    assert window.model_label.text() == "Mask by tiny test model v1"

    # a correction of a v1 mask records v1
    window.canvas.fit_to_window()
    paint(qtbot, window, [(100, 100), (200, 150)])
    assert window.current.state is DocState.CORRECTED
    save_key(qtbot, window)
    assert window.current.state is DocState.SAVED
    store = window.project.store
    row = store.latest_correction(store.image_key_for(kvasir_images[0]))
    assert row.model_version == "v1" and row.revision == 2  # the same image as the one saved before
    assert store.image_count() == 4
