"""Broken bytes thrown at every reader: a decoded image or an InputFileError, nothing else, and
bounded memory.

Seeds are real files of every format (PNG 8-bit, 16-bit, palette; JPEG; TIFF grey 16-bit,
deflated RGB, planar 16-bit RGB, multi-page; BMP; DICOM written by pydicom, plain, RLE, JPEG
and JPEG 2000; pydicom's own files in every encoding it ships, pydicom-data's when installed;
the real chest files of ../shared/data/dicom-cxr when present). Each mutated file is read in a
forked child with an address-space cap and an alarm (fuzz_harness.py); the parent takes the
child's peak RSS from the kernel. Seeded, so a failure reproduces with the same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_harness.py")
N_FILES = 1500
SEED = 20240514
PEAK_RSS_LIMIT_MB = 1500
SEED_SUFFIXES = (".png", ".jpg", ".tif", ".bmp", ".dcm")


def test_mutated_files_give_an_image_or_an_input_file_error(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HARNESS.parents[2]))
    run = subprocess.run(
        [sys.executable, str(HARNESS), str(N_FILES), str(SEED), str(tmp_path)],
        capture_output=True, text=True, timeout=900, env=env, cwd=HARNESS.parent, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    results = report["results"]
    outcomes = Counter(result["outcome"] for result in results)
    peak = max(results, key=lambda result: result["peak_kb"])
    growth = max(result["peak_kb"] - result["start_kb"] for result in results if result["start_kb"])
    print(
        f"\nfuzz: {len(results)} mutated files from {len(report['seeds'])} seeds in {report['seconds']:.0f} s; "
        f"outcomes {dict(outcomes)}; peak RSS {peak['peak_kb'] // 1024} MB ({peak['file']}), "
        f"largest growth in a child {growth // 1024} MB; parent {report['parent_rss_kb'] // 1024} MB"
    )
    findings = [result for result in results if result["outcome"] not in ("decoded", "refused")]
    assert not findings, f"{len(findings)} file(s) neither decoded nor refused: {findings[:10]}"
    assert len(results) >= 1000
    assert {Path(name).suffix for name in report["seeds"]} >= set(SEED_SUFFIXES)
    assert min(outcomes["decoded"], outcomes["refused"]) >= 100, "the mutations should reach both outcomes"
    assert peak["peak_kb"] // 1024 < PEAK_RSS_LIMIT_MB, f"{peak['file']} peaked at {peak['peak_kb'] // 1024} MB"
