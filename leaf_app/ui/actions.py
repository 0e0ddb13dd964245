"""Every menu item, key and toolbar button of the main window, built in one place.

``ACTIONS`` is the table (name, text, shortcuts, what it does to the window, checkable);
``build_actions`` makes the QActions and ``build_menus`` lays them out. Each action runs its
handler through ``guarded``, so no error escapes as a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

from leaf_app.ui.canvas import Tool
from leaf_app.ui.dialogs import show_error
from leaf_core.errors import LeafError
from leaf_core.io.window_presets import WINDOW_PRESETS
from leaf_core.logging_setup import default_log_file

if TYPE_CHECKING:
    from leaf_app.ui.main_window import MainWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    shortcuts: tuple[str, ...]
    handler: Callable[[MainWindow], object]
    checkable: bool = False


ACTIONS = (
    # File
    ActionSpec("open_files", "&Open images…", ("Ctrl+O",), lambda w: w.open_files_dialog()),
    ActionSpec("open_folder", "Open &folder…", ("Ctrl+Shift+O",), lambda w: w.open_folder_dialog()),
    ActionSpec("export_current", "&Export mask…", ("Ctrl+E",), lambda w: w.exports.export_current()),
    ActionSpec("export_all", "Export &all masks…", ("Ctrl+Shift+E",), lambda w: w.exports.export_all()),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), lambda w: w.close()),
    # Edit
    ActionSpec("undo", "&Undo", ("Ctrl+Z",), lambda w: w.undo()),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), lambda w: w.redo()),
    ActionSpec("fill_holes", "&Fill holes", ("F",), lambda w: w.fill_holes()),
    ActionSpec("remove_islands", "Remove small &islands…", ("I",), lambda w: w.remove_small_islands()),
    ActionSpec("clear_mask", "&Clear mask", ("Ctrl+Backspace",), lambda w: w.clear_mask()),
    # Tools
    ActionSpec("tool_brush", "&Brush", ("B",), lambda w: w.use_tool(Tool.BRUSH), checkable=True),
    ActionSpec("tool_eraser", "&Eraser", ("E",), lambda w: w.use_tool(Tool.ERASER), checkable=True),
    ActionSpec("tool_lasso_fill", "&Lasso fill", ("L",), lambda w: w.use_tool(Tool.LASSO_FILL), checkable=True),
    ActionSpec("tool_lasso_erase", "Lasso e&rase", ("Shift+L",), lambda w: w.use_tool(Tool.LASSO_ERASE), checkable=True),
    ActionSpec("tool_pan", "&Pan", ("H",), lambda w: w.use_tool(Tool.PAN), checkable=True),
    ActionSpec("brush_bigger", "Bigger brush", ("]",), lambda w: w.grow_brush()),
    ActionSpec("brush_smaller", "Smaller brush", ("[",), lambda w: w.shrink_brush()),
    # View
    ActionSpec("zoom_fit", "&Fit to window", ("Ctrl+0",), lambda w: w.canvas.fit_to_window()),
    ActionSpec("zoom_actual", "Actual size (&1:1)", ("Ctrl+1",), lambda w: w.canvas.zoom_actual()),
    ActionSpec("zoom_in", "Zoom &in", ("Ctrl+=", "Ctrl++"), lambda w: w.canvas.zoom_by(1.25)),
    ActionSpec("zoom_out", "Zoom &out", ("Ctrl+-",), lambda w: w.canvas.zoom_by(0.8)),
    ActionSpec("toggle_overlay", "Show &mask", ("O",), lambda w: w.toggle_overlay(), checkable=True),
    ActionSpec("outline", "Mask as o&utline", ("Shift+O",), lambda w: w.toggle_outline(), checkable=True),
    ActionSpec("show_uncertainty", "Show &uncertainty", ("U",), lambda w: w.toggle_uncertainty(), checkable=True),
    ActionSpec("next_image", "&Next image", ("Right", "PgDown"), lambda w: w.next_image()),
    ActionSpec("next_to_correct", "Next image to &correct", ("N",), lambda w: w.next_to_correct.go()),
    ActionSpec("previous_image", "&Previous image", ("Left", "PgUp"), lambda w: w.previous_image()),
    # Model
    ActionSpec("predict", "&Predict this image", ("P",), lambda w: w.predict_current()),
    ActionSpec("predict_all", "Predict &all images", ("Ctrl+Shift+P",), lambda w: w.predict_all()),
    ActionSpec("uncertainty", "Compute &uncertainty", ("Shift+U",), lambda w: w.compute_uncertainty()),
    ActionSpec("cancel", "&Cancel prediction", ("Escape",), lambda w: w.cancel_prediction()),
    ActionSpec("choose_model", "Choose model &folder…", (), lambda w: w.choose_model_folder()),
)

TOOL_ACTIONS = ("tool_brush", "tool_eraser", "tool_lasso_fill", "tool_lasso_erase", "tool_pan")
PREDICT_ACTIONS = ("predict", "predict_all", "uncertainty")
NEEDS_IMAGE = ("export_current", "undo", "redo", "fill_holes", "remove_islands", "clear_mask")


def guarded(window: MainWindow, method: Callable[[], object], what: str = "") -> Callable[..., None]:
    """Call ``method``; a LeafError becomes a dialog, anything else a dialog plus a log entry
    (``what`` names the action there; default: the method's name)."""
    what = what or getattr(method, "__name__", repr(method))

    def call(*_args: object) -> None:
        try:
            method()
        except LeafError as error:
            show_error(window, str(error))
        except Exception as error:  # the user gets plain words, the log gets the traceback
            log.exception("unexpected error in %s", what)
            log_file = default_log_file()
            show_error(window, f"Something went wrong: {error}\n\nDetails are in {log_file}.")

    return call


def build_actions(window: MainWindow) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
        action.setCheckable(spec.checkable)
        action.triggered.connect(guarded(window, functools.partial(spec.handler, window), spec.name))
        window.addAction(action)  # shortcuts work wherever the focus is in the window
        actions[spec.name] = action
    tools = QActionGroup(window)
    for name in TOOL_ACTIONS:
        tools.addAction(actions[name])
    actions["tool_brush"].setChecked(True)
    actions["toggle_overlay"].setChecked(True)
    return actions


def build_menus(window: MainWindow, actions: dict[str, QAction]) -> dict[str, QMenu]:
    """The menu bar; returns the menus by name so later features can add to them."""
    layout = {
        "file": ("&File", ["open_files", "open_folder", None, "export_current", "export_all", None, "quit"]),
        "edit": ("&Edit", ["undo", "redo", None, "fill_holes", "remove_islands", "clear_mask"]),
        "tools": ("&Tools", [*TOOL_ACTIONS, None, "brush_bigger", "brush_smaller"]),
        "view": ("&View", ["zoom_fit", "zoom_actual", "zoom_in", "zoom_out", None, "toggle_overlay", "outline",
                           "show_uncertainty", None, "next_image", "previous_image", "next_to_correct"]),
        "model": ("&Model", ["predict", "predict_all", "uncertainty", "cancel", None, "choose_model"]),
    }
    menus: dict[str, QMenu] = {}
    for key, (title, names) in layout.items():
        menu = window.menuBar().addMenu(title)
        for name in names:
            menu.addSeparator() if name is None else menu.addAction(actions[name])
        menus[key] = menu
    presets = menus["view"].addMenu("&Window preset")
    for preset in WINDOW_PRESETS:
        presets.addAction(preset, guarded(window, functools.partial(window.apply_window_preset, preset)))
    menus["window_presets"] = presets
    return menus


def build_toolbar(window: MainWindow, actions: dict[str, QAction]) -> QToolBar:
    toolbar = QToolBar("Tools", window)
    toolbar.setObjectName("tools")
    toolbar.setMovable(False)
    for name in ("open_files", None, "predict", "predict_all", None, *TOOL_ACTIONS, None, "undo", "redo",
                 None, "toggle_overlay", "outline", "show_uncertainty"):
        toolbar.addSeparator() if name is None else toolbar.addAction(actions[name])
    return toolbar
