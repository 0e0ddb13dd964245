"""Render the README screenshots of LEAF Annotate's main states (offscreen).

Run from the repository root: ``python docs/screenshots/make_screenshots.py [MODEL_DIR]``.
Uses Kvasir-SEG images from ../shared/data. The "corrected" shot outlines the polyp with the
lasso tool, driven the way a person would (its polygon follows the published mask's contour).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).parent
KVASIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "kvasir-seg"
IMAGES = sorted((KVASIR / "images").iterdir())[:12]
CHEST_MONOCHROME1 = KVASIR.parent / "dicom-cxr" / "Monochrome1-Jpeg.dcm"


def cli_shot(name: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "leaf_app.main", "--screenshot", str(HERE / name), *args], check=True)


def corrected_shot(model_dir: str | None) -> None:
    import numpy as np
    from PySide6.QtWidgets import QApplication
    from skimage.measure import find_contours

    from leaf_app.document import mask_ops
    from leaf_app.ui.canvas import Tool
    from leaf_app.ui.main_window import MainWindow
    from leaf_core.io.masks import read_mask

    app = QApplication.instance() or QApplication([])
    window = MainWindow(model_override=Path(model_dir) if model_dir else None)
    window.resize(1280, 800)
    window.show()
    window.open_paths([str(p) for p in IMAGES])
    doc = window.current
    if model_dir:
        window.prediction.predict_now([doc])
    truth = read_mask(KVASIR / "masks" / f"{doc.path.stem}.png")
    contour = max(find_contours(truth.astype(np.float32), 0.5), key=len)[::4]
    window.use_tool(Tool.LASSO_FILL)
    doc.apply(mask_ops.fill_polygon, [(float(x), float(y)) for y, x in contour])
    window.update_actions()
    window.session.documents[1].mark_saved()  # so the list shows every state
    for outline, name in ((False, "corrected.png"), (True, "outline.png")):
        window.actions["outline"].setChecked(outline)
        window.toggle_outline()
        app.processEvents()
        window.canvas.fit_to_window()
        app.processEvents()
        window.grab().save(str(HERE / name))
    window.session.documents.clear()
    window.close()


def main() -> None:
    model_dir = sys.argv[1] if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["LEAF_DATA_DIR"] = data_dir  # leave the user's settings alone
        cli_shot("opened-no-model.png", *map(str, IMAGES))
        cli_shot("dicom-chest-monochrome1.png", "--size", "1100x900", str(CHEST_MONOCHROME1))
        if model_dir:
            cli_shot("predicted.png", "--model", model_dir, *map(str, IMAGES))
        corrected_shot(model_dir)
    print("wrote", *sorted(p.name for p in HERE.glob("*.png")))


if __name__ == "__main__":
    main()
