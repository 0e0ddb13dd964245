"""The Redact tool: boxes drawn on the canvas show black, undo and redo, and are painted into the saved copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_helpers import write_rgb
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from leaf_app.document.redaction import RedactionBoxes
from leaf_core.io.images import read_image
from leaf_core.io.redaction import Box
from leaf_core.testing import dicom_dataset, save_dicom


def test_boxes_undo_and_redo_one_step_at_a_time() -> None:
    boxes = RedactionBoxes()
    changes = []
    boxes.changed.connect(lambda: changes.append(boxes.boxes))
    a, b = Box(0, 0, 5, 5), Box(10, 10, 20, 12)
    boxes.add(a)
    boxes.add(b)
    assert boxes.boxes == (a, b) and boxes.can_undo and not boxes.can_redo
    boxes.clear()
    assert boxes.boxes == ()
    assert boxes.undo() and boxes.boxes == (a, b)  # clearing is one step
    assert boxes.undo() and boxes.boxes == (a,)
    assert boxes.redo() and boxes.boxes == (a, b)
    boxes.undo()
    boxes.add(Box(1, 1, 2, 2))  # a new box drops what could be redone
    assert not boxes.can_redo and boxes.boxes == (a, Box(1, 1, 2, 2))
    assert boxes.undo() and boxes.undo() and not boxes.undo() and boxes.boxes == ()
    assert len(changes) == 10


def test_the_redaction_model_does_not_import_qt() -> None:
    code = ("import sys, leaf_app.document.redaction; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_box_from_corners_covers_the_dragged_pixels() -> None:
    assert Box.from_corners(12.2, 7.6, 3.0, 2.4) == Box(3, 2, 13, 9)  # any drag direction, both ends included
    assert Box(5, 5, 50, 50).clipped(20, 30) == Box(5, 5, 30, 20) and Box(40, 0, 50, 5).clipped(20, 30) is None
    with pytest.raises(ValueError, match="empty"):
        Box(3, 3, 3, 4)


def _view_pos(window, x: float, y: float) -> QPoint:
    return window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def _drag(qtbot, window, start: tuple[int, int], end: tuple[int, int]) -> None:
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=_view_pos(window, *start))
    qtbot.mouseMove(viewport, pos=_view_pos(window, (start[0] + end[0]) // 2, (start[1] + end[1]) // 2))
    qtbot.mouseMove(viewport, pos=_view_pos(window, *end))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=_view_pos(window, *end))


def _shown_pixel(window, x: int, y: int) -> tuple[int, int, int]:
    image = window.canvas.viewport().grab().toImage()
    colour = image.pixelColor(_view_pos(window, x, y))
    return colour.red(), colour.green(), colour.blue()


def test_redact_draw_undo_and_save(make_window, qtbot, monkeypatch, tmp_path: Path) -> None:
    images = [write_rgb(tmp_path / "frames" / f"frame{i}.png", seed=i) for i in range(3)]
    window = make_window()
    window.open_paths(images)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "project"))
    warnings = []
    monkeypatch.setattr("leaf_app.ui.redact_tool.confirm_save_without_boxes",
                        lambda _parent, name: warnings.append(name) or True)
    window.canvas.fit_to_window()
    doc = window.current

    qtbot.keyClick(window.canvas, Qt.Key.Key_R)
    assert window.redaction.active and not window.actions["tool_brush"].isChecked()
    _drag(qtbot, window, (5, 4), (30, 12))
    boxes = window.redaction.boxes_of(doc)
    assert boxes.boxes == (Box(5, 4, 31, 13),)
    assert doc.mask is None or not doc.mask.any()  # the drag drew a box, not a stroke
    assert _shown_pixel(window, 15, 8) == (0, 0, 0)  # shown black before saving
    assert _shown_pixel(window, 50, 40) != (0, 0, 0)
    window.redaction.actions["undo_box"].trigger()
    assert boxes.boxes == () and _shown_pixel(window, 15, 8) != (0, 0, 0)
    window.redaction.actions["redo_box"].trigger()
    assert boxes.boxes == (Box(5, 4, 31, 13),)

    window.actions["tool_brush"].trigger()  # back to the brush: drags paint the mask again
    assert not window.redaction.active
    _drag(qtbot, window, (40, 30), (60, 40))
    assert doc.mask.any()
    window.project.actions["save_correction"].trigger()
    store = window.project.store
    record = store.latest_correction(store.image_key_for(images[0]))
    assert record.redactions == (Box(5, 4, 31, 13),) and warnings == []  # boxes drawn: no warning
    stored = read_image(record.image_path).rgb
    assert (stored[4:13, 5:31] == 0).all()
    np.testing.assert_array_equal(stored[20:], read_image(images[0]).rgb[20:])
    assert (read_image(images[0]).rgb[4:13, 5:31] != 0).any()  # the source is untouched

    for index in (1, 2):  # no boxes: warned the first time only, in this project
        window.session.set_current(index)
        _drag(qtbot, window, (40, 30), (60, 40))
        window.project.actions["save_correction"].trigger()
    assert warnings == ["frame1.png"] and store.redaction_warning_shown
    assert store.image_count() == 3


def test_cancelling_the_warning_saves_nothing(make_window, monkeypatch, tmp_path: Path, qtbot) -> None:
    image = write_rgb(tmp_path / "photo.png")
    window = make_window()
    window.open_paths([image])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "project"))
    monkeypatch.setattr("leaf_app.ui.redact_tool.confirm_save_without_boxes", lambda *_: False)
    _drag(qtbot, window, (10, 10), (20, 20))
    window.project.actions["save_correction"].trigger()
    assert window.project.store.image_count() == 0


def test_images_without_burned_in_text_are_not_warned_about(make_window, monkeypatch, tmp_path: Path, qtbot) -> None:
    ct = save_dicom(dicom_dataset(np.arange(60 * 80, dtype=np.uint16).reshape(60, 80), Modality="CT"),
                    tmp_path / "ct.dcm")
    window = make_window()
    window.open_paths([ct])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "project"))
    warned = []
    monkeypatch.setattr("leaf_app.ui.redact_tool.confirm_save_without_boxes", lambda *a: warned.append(a) or True)
    _drag(qtbot, window, (10, 10), (20, 20))
    window.project.actions["save_correction"].trigger()
    assert window.project.store.image_count() == 1 and warned == []
