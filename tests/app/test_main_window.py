"""Drive the real main window as a person does: menus, keys and mouse drags on the canvas."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app_helpers import write_grey16, write_rgb
from leaf_app.document.image_document import DocState
from leaf_core.io.masks import read_mask


def open_from_menu(window, monkeypatch, paths):
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(p) for p in paths], ""))
    window.actions["open_files"].trigger()


def view_pos(window, x, y) -> QPoint:
    """Viewport position of the centre of image pixel (x, y)."""
    return window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def drag(qtbot, window, points, button=Qt.MouseButton.LeftButton):
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, button, pos=view_pos(window, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, pos=view_pos(window, *point))
    qtbot.mouseRelease(viewport, button, pos=view_pos(window, *points[-1]))


def test_open_files_from_menu_shows_states_and_navigates(make_window, monkeypatch, qtbot, image_folder):
    window = make_window()
    open_from_menu(window, monkeypatch, sorted(image_folder.iterdir()))
    assert window.file_list.count() == 3
    assert all("not yet predicted" in window.file_list.item(i).text() for i in range(3))
    assert window.current.name == "img0.png" and window.canvas.document is window.current
    assert window.session.task.name == "colonoscopy"  # inferred from 'kvasir-test'
    assert not window.actions["predict"].isEnabled()
    assert "No model for Colonoscopy (polyp)" in window.model_label.text()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    assert window.current.name == "img1.png" and window.file_list.currentRow() == 1
    qtbot.keyClick(window.canvas, Qt.Key.Key_Left)
    assert window.current.name == "img0.png"
    window.file_list.setCurrentRow(2)
    assert window.current.name == "img2.png"


def test_paint_drag_is_gapless_at_full_resolution_and_undoes_per_stroke(make_window, monkeypatch, qtbot, tmp_path):
    image = write_rgb(tmp_path / "big.png", height=300, width=400)  # shown smaller than its size
    window = make_window()
    window.resize(600, 450)
    open_from_menu(window, monkeypatch, [image])
    window.canvas.fit_to_window()
    assert window.canvas.zoom < 1.0  # so a screen pixel covers several image pixels
    window.canvas.set_brush_radius(3)
    drag(qtbot, window, [(20, 150), (150, 150), (380, 150)])  # far apart: a fast drag
    doc = window.current
    assert doc.mask.shape == (300, 400)
    row = doc.mask[150]
    assert row[22:379].all(), "the stroke has gaps"
    assert not doc.mask[140].any() and not doc.mask[:, :15].any()
    assert doc.state is DocState.CORRECTED and "corrected" in window.file_list.item(0).text()
    painted = doc.mask.copy()
    drag(qtbot, window, [(200, 50), (200, 250)])
    assert doc.mask[50:250, 200].all()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(doc.mask, painted)  # one stroke, one undo
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not doc.mask.any()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(doc.mask, painted)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert doc.mask[50:250, 200].all()
    # the overlay shows the mask where it was painted
    assert window.canvas.mask_layer.buffer[150, 200, 3] == 255 and window.canvas.mask_layer.buffer[10, 10, 3] == 0


def test_brush_step_redraws_only_its_rectangle(make_window, monkeypatch, qtbot, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, [write_rgb(tmp_path / "a.png", height=300, width=400)])
    boxes = []
    layer = window.canvas.mask_layer
    original = layer.refresh
    monkeypatch.setattr(layer, "refresh", lambda box=None: (boxes.append(box), original(box)))
    window.canvas.set_brush_radius(4)
    drag(qtbot, window, [(50, 50), (60, 52), (70, 55)])
    assert boxes and all(b is not None and b.width * b.height < 30 * 30 for b in boxes)


def test_eraser_lasso_and_region_tools(make_window, monkeypatch, qtbot, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, [write_rgb(tmp_path / "a.png")])  # 80x60
    doc = window.current
    qtbot.keyClick(window.canvas, Qt.Key.Key_L)
    drag(qtbot, window, [(10, 10), (50, 10), (50, 40), (10, 40)])
    assert doc.mask[12:38, 12:48].all() and not doc.mask[45:, :].any()
    qtbot.keyClick(window.canvas, Qt.Key.Key_E)
    window.canvas.set_brush_radius(2)
    drag(qtbot, window, [(30, 25), (30, 25)])
    assert not doc.mask[25, 30]
    window.actions["fill_holes"].trigger()
    assert doc.mask[25, 30]
    doc.mask[55, 75] = True  # a speck
    monkeypatch.setattr("leaf_app.ui.dialogs.QInputDialog.getInt", lambda *a, **k: (10, True))
    window.actions["remove_islands"].trigger()
    assert not doc.mask[55, 75] and doc.mask[25, 30]
    window.actions["clear_mask"].trigger()
    assert not doc.mask.any()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.mask[25, 30]


def test_brush_size_keys_and_overlay_modes(make_window, monkeypatch, qtbot, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, [write_rgb(tmp_path / "a.png")])
    start = window.canvas.brush_radius
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_radius > start
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    assert window.canvas.brush_radius < start
    assert f"brush {window.canvas.brush_radius} px" in window.tool_label.text()
    window.canvas.set_brush_radius(10)
    drag(qtbot, window, [(40, 30), (40, 30)])
    layer = window.canvas.mask_layer
    assert layer.buffer[30, 40, 3] == 255 and layer.isVisible()
    qtbot.keyClick(window.canvas, Qt.Key.Key_O)
    assert not layer.isVisible()
    qtbot.keyClick(window.canvas, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)  # outline
    shown = layer.buffer[..., 3] == 255
    assert layer.isVisible() and not shown[30, 40] and 0 < shown.sum() < window.current.mask.sum() / 3
    assert not (shown & ~window.current.mask).any()  # the outline lies on the mask's edge
    window.opacity_slider.setValue(20)
    assert window.canvas.overlay_opacity == pytest.approx(0.2)


def test_window_level_by_right_drag_changes_displayed_pixels(make_window, monkeypatch, qtbot, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, [write_grey16(tmp_path / "xray" / "chest.png")])
    doc = window.current
    assert doc.is_grey and window.session.task.name == "chest_xray"
    before_pixels, before_window = window.canvas.displayed_rgb(), doc.window
    drag(qtbot, window, [(20, 20), (40, 40), (60, 50)], button=Qt.MouseButton.RightButton)
    assert doc.window != before_window
    assert not np.array_equal(window.canvas.displayed_rgb(), before_pixels)
    assert not doc.mask.any()  # right-drag never paints
    window.apply_window_preset("Full range")
    assert "W " in window.tool_label.text()


def test_export_png_at_original_size(make_window, monkeypatch, qtbot, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, [write_rgb(tmp_path / "a.png")])
    drag(qtbot, window, [(10, 10), (70, 50)])
    out = tmp_path / "out" / "a_mask.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    window.actions["export_current"].trigger()
    assert np.array_equal(read_mask(out, expected_shape=(60, 80)), window.current.mask)
    assert window.current.state is DocState.SAVED and "saved" in window.file_list.item(0).text()


def test_export_all_writes_one_png_per_image(make_window, monkeypatch, qtbot, image_folder, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, sorted(image_folder.iterdir()))
    drag(qtbot, window, [(10, 10), (20, 20)])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    drag(qtbot, window, [(40, 40), (50, 20)])
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "all"))
    window.actions["export_all"].trigger()
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["img0.png", "img1.png"]
    assert np.array_equal(read_mask(tmp_path / "all" / "img1.png"), window.session.documents[1].mask)
    assert not window.session.unsaved_documents


def test_closing_with_unsaved_edits_asks(make_window, monkeypatch, qtbot, tmp_path):
    window = make_window()
    open_from_menu(window, monkeypatch, [write_rgb(tmp_path / "a.png")])
    drag(qtbot, window, [(10, 10), (30, 30)])
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    window.close()
    assert asked and window.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    window.close()
    assert not window.isVisible()
    assert not window.recovery.store.has_recovery()  # a clean exit leaves nothing to recover


def test_corrupt_file_shows_a_plain_dialog(make_window, monkeypatch, qtbot, tmp_path, leaf_data_dir):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    window = make_window()
    open_from_menu(window, monkeypatch, [bad])
    assert len(shown) == 1 and "broken.png" in shown[0] and "Traceback" not in shown[0]
    assert "cannot be read" in window.file_list.item(0).text()
    drag(qtbot, window, [(1, 1), (5, 5)])  # nothing to paint on: no error
    open_from_menu(window, monkeypatch, [tmp_path / "missing.png"])
    assert "does not exist" in shown[-1]


def test_recovery_after_a_crash_restores_the_mask(make_window, monkeypatch, qtbot, image_folder):
    from leaf_app.document.autosave import AutosaveStore
    from leaf_app.document.session import Session
    from leaf_core.logging_setup import user_data_dir

    # the previous run: edits autosaved, then the process died (no clean close)
    crashed = Session()
    crashed.open_paths([image_folder])
    doc = crashed.load(crashed.documents[2])
    doc.begin_stroke(40, 30, radius=8)
    doc.end_stroke()
    crashed.set_current(2)
    AutosaveStore(user_data_dir() / "autosave").save(crashed)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window = make_window()
    assert window.recovery.offer()
    assert window.file_list.count() == 3 and window.current.name == "img2.png"
    assert np.array_equal(window.current.mask, doc.mask) and window.current.mask[30, 40]
    assert window.current.state is DocState.CORRECTED
    assert window.canvas.mask_layer.buffer[30, 40, 3] == 255


def test_autosave_after_a_stroke(make_window, monkeypatch, qtbot, tmp_path):
    from leaf_app.document.autosave import AutosaveStore

    window = make_window()
    open_from_menu(window, monkeypatch, [write_rgb(tmp_path / "a.png")])
    drag(qtbot, window, [(10, 10), (30, 30)])
    qtbot.waitUntil(window.recovery.store.has_recovery, timeout=5000)
    recovered = AutosaveStore(window.recovery.store.folder).load()  # read back as a restarted app would
    (path, entry), = recovered.masks.items()
    assert path == tmp_path / "a.png" and entry.state is DocState.CORRECTED
    assert np.array_equal(entry.mask, window.current.mask)
    assert entry.mask[20, 20] and entry.mask[10, 10] and not entry.mask[50, 70]  # the stroke, and only it


def test_dicom_source_exports_a_dicom_seg_that_highdicom_reads_back(make_window, monkeypatch, qtbot, tmp_path):
    import highdicom as hd

    from leaf_core.testing import dicom_dataset, save_dicom

    grey = (np.arange(60 * 80, dtype=np.uint16).reshape(60, 80) * 13) % 4000
    source = save_dicom(dicom_dataset(grey, Modality="DX"), tmp_path / "chest.dcm")
    window = make_window()
    open_from_menu(window, monkeypatch, [source])
    drag(qtbot, window, [(10, 10), (70, 50)])
    assert window.current.mask.any()
    out = tmp_path / "out" / "chest_seg.dcm"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "DICOM Segmentation (*.dcm)"))
    window.actions["export_current"].trigger()
    seg = hd.seg.segread(out)
    np.testing.assert_array_equal(seg.pixel_array.reshape(60, 80).astype(bool), window.current.mask)
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"  # painted by hand
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == \
        window.current.image.meta.sop_instance_uid


def test_dropping_files_on_the_window_opens_them(make_window, qtbot, image_folder):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in sorted(image_folder.iterdir())])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    # Qt delivers drop events only inside a real drag session, which offscreen tests cannot start;
    # the handler is called with the event Qt would deliver.
    window.dropEvent(drop)
    assert drop.isAccepted()
    assert window.file_list.count() == 3
    assert window.current is not None and window.current.image.rgb.shape[:2] == (60, 80)
