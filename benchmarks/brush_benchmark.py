"""Time per brush step on a 4000x3000 image: the mask edit plus the overlay redraw it causes.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/brush_benchmark.py [--steps 300]``.
Prints the figures and writes benchmarks/results/brush.json, with the machine and the command. A
step is one mouse move of a stroke (radius 20 px, 6 px apart): the document paints the swept
segment and records its old pixels, the canvas re-renders only that rectangle of the overlay,
and the viewport repaints.
For comparison it also times re-rendering the whole overlay once, which a brush step never does.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from leaf_app.document.image_document import ImageDocument  # noqa: E402
from leaf_app.document.mask_ops import BBox  # noqa: E402
from leaf_app.ui.canvas import Canvas  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, command_line, machine, write_json  # noqa: E402

HEIGHT, WIDTH = 3000, 4000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--radius", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "brush.json")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    rgb = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    doc = ImageDocument("synthetic-4000x3000.png")
    doc.set_image(SimpleNamespace(rgb=rgb, intensity=None, default_window=None))
    canvas = Canvas()
    canvas.resize(1400, 1000)
    canvas.show()
    canvas.set_document(doc)
    canvas.zoom_actual()  # the worst case for repaints: one screen pixel per image pixel
    canvas.centerOn(WIDTH / 2, HEIGHT / 2)
    app.processEvents()

    edit_ms, repaint_ms = [], []
    x0, y = WIDTH / 2 - args.steps * 3, HEIGHT / 2
    doc.begin_stroke(x0, y, args.radius)
    for i in range(1, args.steps + 1):
        t0 = time.perf_counter()
        doc.stroke_to(x0 + 6 * i, y + 40 * np.sin(i / 10))  # edit + dirty-rect overlay render
        t1 = time.perf_counter()
        app.processEvents()  # the viewport repaints the dirty region
        t2 = time.perf_counter()
        edit_ms.append((t1 - t0) * 1e3)
        repaint_ms.append((t2 - t1) * 1e3)
    t0 = time.perf_counter()
    doc.end_stroke()
    end_stroke_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    canvas.refresh_mask(BBox.full(doc.mask.shape))
    full_overlay_ms = (time.perf_counter() - t0) * 1e3

    total = [a + b for a, b in zip(edit_ms, repaint_ms)]
    results = {
        "image": f"{WIDTH}x{HEIGHT}",
        "steps": args.steps,
        "brush_radius_px": args.radius,
        "edit_and_overlay_ms": {"median": statistics.median(edit_ms), "p95": float(np.percentile(edit_ms, 95))},
        "repaint_ms": {"median": statistics.median(repaint_ms), "p95": float(np.percentile(repaint_ms, 95))},
        "step_total_ms": {"median": statistics.median(total), "p95": float(np.percentile(total, 95)), "max": max(total)},
        "end_stroke_ms": end_stroke_ms,
        "full_overlay_render_ms_for_comparison": full_overlay_ms,
        "painted_pixels": int(doc.mask.sum()),  # the stroke's area: the timed steps did paint
        "platform": f"{platform.system()} {platform.machine()}, Qt platform {app.platformName()}",
        "machine": machine(),
        "command": command_line(__file__, argv),
    }
    write_json(args.out, results)
    print(f"brush step on {WIDTH}x{HEIGHT}, radius {args.radius}px, {args.steps} steps:")
    print(f"  edit + overlay rect : median {results['edit_and_overlay_ms']['median']:.2f} ms")
    print(f"  viewport repaint    : median {results['repaint_ms']['median']:.2f} ms")
    print(f"  whole step          : median {results['step_total_ms']['median']:.2f} ms, "
          f"p95 {results['step_total_ms']['p95']:.2f} ms")
    print(f"  end of stroke (undo atom): {end_stroke_ms:.1f} ms")
    print(f"  (whole-overlay render, never done per step: {full_overlay_ms:.1f} ms)")
    print(f"wrote {args.out}")
    canvas.close()
    return results


if __name__ == "__main__":
    main()
