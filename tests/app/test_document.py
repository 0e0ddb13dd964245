"""The document model without a window: mask edits, undo atoms, session, autosave."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from leaf_app.document import DocState, History, ImageDocument, ModelStamp, Session, mask_ops
from leaf_app.document.autosave import AutosaveStore
from leaf_app.document.mask_ops import BBox
from leaf_core.tasks import TASKS


def fake_image(height=40, width=50):
    return SimpleNamespace(rgb=np.zeros((height, width, 3), np.uint8), intensity=None, default_window=None)


def loaded_doc(height=40, width=50) -> ImageDocument:
    doc = ImageDocument("x.png")
    doc.set_image(fake_image(height, width))
    return doc


def test_document_package_does_not_import_qt():
    code = "import sys, leaf_app.document, leaf_app.document.autosave, leaf_app.model_hub, leaf_core, leaf_core.tasks; " \
        "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paint_segment_leaves_no_gaps_on_a_fast_drag():
    mask = np.zeros((50, 200), bool)
    box = mask_ops.paint_segment(mask, (5, 25), (190, 25), radius=2)
    assert mask[25, 5:191].all()  # every pixel along the path
    assert not mask[25, 194:].any() and not mask[10].any()
    assert box == BBox(23, 3, 28, 193)


def test_eraser_is_painting_background():
    mask = np.ones((20, 20), bool)
    mask_ops.paint_segment(mask, (10, 10), (10, 10), radius=3, value=False)
    assert not mask[10, 10] and not mask[10, 13] and mask[10, 14] and mask[0, 0]


def test_paint_clipped_to_image_and_outside_is_none():
    mask = np.zeros((10, 10), bool)
    assert mask_ops.paint_segment(mask, (-50, -50), (-40, -40), radius=2) is None
    box = mask_ops.paint_segment(mask, (0, 0), (0, 0), radius=3)
    assert box == BBox(0, 0, 4, 4) and mask[0, 0]


def test_region_operations():
    mask = np.zeros((30, 30), bool)
    box = mask_ops.fill_polygon(mask, [(5, 5), (20, 5), (20, 20), (5, 20)])
    assert mask[5:21, 5:21].all() and mask.sum() == 16 * 16 and box == BBox(5, 5, 21, 21)
    mask[10:13, 10:13] = False  # a hole
    mask[0, 28] = True  # an island of one pixel
    assert mask_ops.fill_holes(mask) == BBox(10, 10, 13, 13) and mask[11, 11]
    assert mask_ops.remove_small_islands(mask, 5) == BBox(0, 28, 1, 29) and not mask[0, 28]
    assert mask_ops.remove_small_islands(mask, 5) is None
    assert mask_ops.clear(mask) == BBox(5, 5, 21, 21) and not mask.any()
    assert mask_ops.clear(mask) is None


def test_one_stroke_is_one_undo_step_with_a_small_atom():
    doc = loaded_doc(400, 500)
    doc.begin_stroke(10, 10, radius=3)
    for x in range(10, 100, 7):
        doc.stroke_to(x, 10)
    atom = doc.end_stroke()
    assert len(doc.history) == 1 and doc.state is DocState.CORRECTED
    assert atom.bbox == BBox(7, 7, 14, 98)  # only the touched rectangle is stored
    painted = doc.mask.copy()
    doc.undo()
    assert not doc.mask.any()
    doc.redo()
    assert np.array_equal(doc.mask, painted)


def test_overlapping_stroke_undo_restores_exactly():
    doc = loaded_doc()
    doc.mask[5:15, 5:15] = True
    before = doc.mask.copy()
    doc.begin_stroke(10, 10, radius=4, value=False)
    doc.stroke_to(30, 30)
    doc.stroke_to(10, 30)
    doc.stroke_to(12, 12)  # back over pixels the stroke already erased
    doc.end_stroke()
    doc.undo()
    assert np.array_equal(doc.mask, before)


def test_history_is_deep_and_bounded():
    history = History(max_steps=200)
    doc = loaded_doc()
    doc.history = history
    for i in range(250):
        doc.begin_stroke(i % 50, 5, radius=1, value=bool(i % 2 == 0))
        doc.end_stroke()
    assert len(history) == 200
    for _ in range(200):
        doc.undo()
    assert not history.can_undo and history.can_redo
    small = History(max_steps=1000, max_bytes=100)
    for _ in range(10):
        small.push(mask_ops_atom(40))
    assert len(small) == 1


def mask_ops_atom(n):
    from leaf_app.document.history import EditAtom

    return EditAtom(BBox(0, 0, 1, n), np.zeros((1, n), bool), np.ones((1, n), bool))


def test_new_edit_clears_redo_and_apply_records_region_ops():
    doc = loaded_doc()
    doc.apply(mask_ops.fill_polygon, [(1, 1), (10, 1), (10, 10)])
    doc.undo()
    assert doc.history.can_redo
    doc.apply(mask_ops.fill_polygon, [(20, 20), (30, 20), (30, 30)])
    assert not doc.history.can_redo
    assert doc.apply(mask_ops.fill_holes) is None  # nothing to fill: no undo step
    assert len(doc.history) == 1


def test_prediction_sets_state_model_and_dice_of_change():
    doc = loaded_doc()
    predicted = np.zeros((40, 50), bool)
    predicted[10:20, 10:20] = True
    doc.set_prediction(predicted, ModelStamp("leaf-kvasir", "3"))
    assert doc.state is DocState.PREDICTED and str(doc.prediction_model) == "leaf-kvasir 3"
    assert doc.dice_of_change() == 1.0
    doc.begin_stroke(15, 25, radius=3)
    doc.end_stroke()
    assert doc.state is DocState.CORRECTED and doc.has_unsaved_edits
    assert doc.dice_of_change() < 1.0
    doc.mark_saved()
    assert doc.state is DocState.SAVED and not doc.has_unsaved_edits
    with pytest.raises(ValueError):
        doc.set_prediction(np.zeros((5, 5), bool), ModelStamp("m", "1"))


def test_calling_in_the_wrong_order_says_what_to_do():
    doc = ImageDocument("y.png")
    with pytest.raises(RuntimeError, match="set_image"):
        doc.begin_stroke(1, 1, 2)
    with pytest.raises(RuntimeError, match="begin_stroke"):
        loaded_doc().stroke_to(1, 1)


def test_session_opens_folder_infers_task_and_navigates(image_folder):
    session = Session()
    added = session.open_paths([image_folder])
    assert [d.name for d in added] == ["img0.png", "img1.png", "img2.png"]
    assert session.current_index == 0 and session.task is TASKS["colonoscopy"]
    assert session.open_paths([image_folder / "img1.png"]) == []  # already open
    session.go_next(); session.go_next(); session.go_next()
    assert session.current_index == 2
    session.go_previous()
    assert session.current.name == "img1.png"
    doc = session.load(session.current)
    assert doc.shape == (60, 80)


def test_autosave_round_trip_writes_only_changed_masks(tmp_path, image_folder):
    session = Session()
    session.open_paths([image_folder])
    for doc in session.documents:
        session.load(doc)
    doc = session.documents[1]
    doc.begin_stroke(20, 20, radius=5)
    doc.end_stroke()
    store = AutosaveStore(tmp_path / "autosave")
    assert store.save(session)
    mask_file = tmp_path / "autosave" / "mask_1.npz"
    stamp = mask_file.stat().st_mtime_ns
    store.save(session)
    assert mask_file.stat().st_mtime_ns == stamp  # unchanged mask: not rewritten
    recovered = AutosaveStore(tmp_path / "autosave").load()
    assert recovered.task_name == "colonoscopy" and len(recovered.files) == 3
    (path, entry), = recovered.masks.items()
    assert path.name == "img1.png" and np.array_equal(entry.mask, doc.mask)
    assert entry.state is DocState.CORRECTED
    doc.mark_saved()
    assert not store.save(session) and not store.has_recovery()
