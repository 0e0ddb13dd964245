"""Saves corrections in a loop until killed: the crash-consistency test kills it at random instants.

Usage: python crash_writer.py PROJECT_DIR IMAGES_DIR, then a line on stdin to begin.
Save number n (continuing from what the catalog holds) stores mask_for(n) as the corrected mask,
mask_for(n + 100000) as the original on odd n, and "writer-n" as the author.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from project_helpers import mask_for  # noqa: E402

from leaf_core.project.store import CorrectionStore  # noqa: E402

N_IMAGES = 3


def main() -> None:
    sys.stdin.readline()  # started early (imports take most of the time), it waits for "go"
    store = CorrectionStore.open(sys.argv[1])
    images = sorted(Path(sys.argv[2]).glob("*.png"))[:N_IMAGES]
    n = 1 + max((int(r.author.split("-")[1]) for r in _all_rows(store)), default=0)
    print("ready", flush=True)
    while True:
        original = mask_for(n + 100000) if n % 2 else None
        store.save_correction(images[n % len(images)], mask_for(n), original, "v1" if n % 2 else None, f"writer-{n}")
        n += 1


def _all_rows(store: CorrectionStore):
    for latest in store.latest_corrections():
        yield from store.history(latest.image_key)


if __name__ == "__main__":
    main()
