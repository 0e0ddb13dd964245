"""`leaf-annotate [PATH...] [--task T] [--model DIR] [--screenshot FILE]`: start the app.

Errors never reach the user as a traceback: they go to a dialog in plain words and, with the
traceback, to the log file in the user data folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from leaf_core.logging_setup import configure_logging, default_log_file
from leaf_core.tasks import TASKS

log = logging.getLogger("leaf_app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leaf-annotate", description="Segment, correct and export medical images with LEAF.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders to open")
    parser.add_argument("--task", choices=sorted(TASKS), help="the segmentation task (default: inferred from the files)")
    parser.add_argument("--model", type=Path, metavar="DIR", help="model folder to use instead of the one remembered for the task")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="render the window with PATHs loaded (and predicted, if a model is present) to FILE and exit")
    parser.add_argument("--size", default="1280x800", help="window size for --screenshot, WxH (default 1280x800)")
    parser.add_argument("--outline", action="store_true", help="with --screenshot: show the mask as an outline")
    parser.add_argument("--uncertainty", action="store_true", help="with --screenshot: compute and show the uncertainty map")
    return parser


def install_excepthook(log_file: Path) -> None:
    """Any uncaught error: log its traceback, show one plain sentence."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        log.error("uncaught error:\n%s", "".join(traceback.format_exception(kind, error, tb)))
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is not None:
            from leaf_app.ui.dialogs import show_error

            show_error(None, f"Something went wrong: {error}\n\nDetails are in {log_file}.")
        else:
            print(f"leaf-annotate: {error} (details in {log_file})", file=sys.stderr)

    sys.excepthook = hook


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `leaf-annotate` console script."""
    args = build_parser().parse_args(argv)
    log_file = default_log_file()
    configure_logging(log_file=log_file)
    install_excepthook(log_file)
    if args.screenshot is not None:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from leaf_app.ui.main_window import MainWindow
    from leaf_app.ui.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(model_override=args.model)
    if args.task:
        window.set_task(args.task)
    if args.screenshot is not None:
        return take_screenshot(window, args)
    window.show()
    window.recovery.offer()
    if args.paths:
        window.open_paths(args.paths)
    log.info("LEAF Annotate started; log in %s", log_file)
    return app.exec()


def take_screenshot(window, args: argparse.Namespace) -> int:  # noqa: ANN001
    """Load ``args.paths``, predict the current image if a model is present, write the window."""
    from PySide6.QtWidgets import QApplication

    width, height = (int(v) for v in args.size.lower().split("x"))
    window.resize(width, height)
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    doc = window.current
    if doc is not None and doc.is_loaded and window.prediction.availability() is None:
        window.prediction.predict_now([doc], kind="uncertainty" if args.uncertainty else "predict")
        if args.uncertainty:
            window.actions["show_uncertainty"].setChecked(True)
            window.toggle_uncertainty()
        window.update_actions()
    if args.outline:
        window.actions["outline"].setChecked(True)
        window.toggle_outline()
    for _ in range(3):
        QApplication.processEvents()
    window.canvas.fit_to_window()
    QApplication.processEvents()
    ok = window.grab().save(str(args.screenshot))
    window.session.documents.clear()  # a screenshot leaves no autosave and asks nothing
    window.close()
    if not ok:
        print(f"leaf-annotate: cannot write the screenshot '{args.screenshot}'", file=sys.stderr)
        return 2
    print(args.screenshot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
