"""benchmarks/brush_benchmark.py on a short stroke: it paints what the stroke sweeps and writes its figures."""

from __future__ import annotations

import json

import numpy as np


def swept_area(points: list[tuple[float, float]], radius: float, shape: tuple[int, int]) -> int:
    """Pixels within ``radius`` of the polyline through ``points`` (an independent raster of a stroke)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    inside = np.zeros(shape, bool)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        dx, dy = x1 - x0, y1 - y0
        along = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
        inside |= (xx - (x0 + along * dx)) ** 2 + (yy - (y0 + along * dy)) ** 2 <= radius**2
    return int(inside.sum())


def test_brush_benchmark_paints_the_stroke_and_writes_its_figures(tmp_path, load_script, qapp):
    brush = load_script("brush_benchmark")
    out = tmp_path / "brush.json"
    steps, radius = 10, 20
    results = brush.main(["--steps", str(steps), "--radius", str(radius), "--out", str(out)])
    assert json.loads(out.read_text()) == results and "brush_benchmark.py" in results["command"]
    assert results["steps"] == steps and results["machine"]["cores"] >= 1
    assert all(results[k]["median"] > 0 for k in ("edit_and_overlay_ms", "repaint_ms", "step_total_ms"))
    # The benchmark's own path (brush_benchmark.main), in a window around it: 6 px apart, a sine in y.
    x0, y0 = brush.WIDTH / 2 - steps * 3, brush.HEIGHT / 2
    points = [(x0 + 6 * i, y0 + 40 * np.sin(i / 10)) for i in range(steps + 1)]
    left, top = int(x0) - 2 * radius, int(y0) - 2 * radius
    local = [(x - left, y - top) for x, y in points]
    expected = swept_area(local, radius, (4 * radius + 80, 6 * steps + 4 * radius))
    # measured: equal (4018 px); 1% leaves room for a brush that rounds its edge differently
    assert abs(results["painted_pixels"] - expected) <= 0.01 * expected, (results["painted_pixels"], expected)
