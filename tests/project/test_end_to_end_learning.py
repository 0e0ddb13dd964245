"""The correction loop learns, end to end, on real polyp images (runs in CI; a few minutes on 2 cores).

Starting from nothing: 20 corrected images (kvasir-seg's ground truth as the corrections, saved
through the store as the app saves them) give a first model through the same job path the app
uses (prepare_job, the `leaf` process, commit_job) that beats an empty mask; 20 more images and a
fine-tune from that version do not make it worse on the (grown) validation split.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

from leaf_core.evaluation import evaluate_images, load_labelled_images
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.io.masks import read_mask
from leaf_core.metrics import dice_score
from leaf_core.model import LeafModel
from leaf_core.project.first_model import first_model_settings
from leaf_core.project.job_progress import JobDone, ProgressParser, Validation
from leaf_core.project.model_jobs import FinetuneSettings, commit_job, prepare_job
from leaf_core.project.store import CorrectionStore

pytestmark = [pytest.mark.slow, pytest.mark.shared]

# The app's first-model recipe (frozen encoder layers included), shorter and at 64 px.
FIRST_MODEL = dataclasses.replace(first_model_settings(20), steps=250, resolution=64)
SECOND_FINETUNE = FinetuneSettings(steps=60, learning_rate=1e-4, batch_size=2)


def run_job(store: CorrectionStore, start_from, settings: FinetuneSettings):
    """Run one fine-tune job synchronously, as the app's JobRunner does; return (version, events)."""
    job = prepare_job(store, start_from, settings)
    result = subprocess.run(job.command, cwd=job.staging_dir, capture_output=True, text=True, timeout=600)
    parser = ProgressParser()
    events = parser.feed(result.stdout) + parser.finish()
    assert result.returncode == 0, result.stderr[-2000:]
    done = next(e for e in events if isinstance(e, JobDone))
    return commit_job(store, job, done), events


def save_ground_truth(store: CorrectionStore, dataset: DatasetFolder, ids: list[str]) -> None:
    for image_id in ids:
        mask = read_mask(dataset.mask_path(image_id))
        store.save_correction(dataset.image_path(image_id), mask, None, None, "clinician", task="colonoscopy")


def val_dice(model_dir: Path, dataset: Path) -> float:
    images, _ = load_labelled_images(DatasetFolder(dataset), "val")
    return evaluate_images(LeafModel.from_pretrained(model_dir), images).dice


def test_corrections_give_a_first_model_and_a_finetune_that_keeps_it(shared_path, tmp_path, monkeypatch):
    # A fixed project salt fixes the val split (it hashes salted image keys): with a random one,
    # 4 of the 20 images drawn as val differ per run, and a 250-step model's val Dice with them.
    monkeypatch.setattr("leaf_core.project.catalog.secrets.token_hex", lambda nbytes: "5a" * nbytes)
    data = shared_path("data", "kvasir-seg")
    dataset = DatasetFolder(data)
    ids = dataset.split("train")[:40]

    with CorrectionStore.create(tmp_path / "project") as store:
        # 20 corrections and the first model
        save_ground_truth(store, dataset, ids[:20])
        first, _ = run_job(store, None, FIRST_MODEL)  # on the embedded TAESD
        store.models.set_current(first)
        v1 = store.models.get(first)
        assert first == "v1" and v1.parent is None

        first_val = store.export_dataset(tmp_path / "export-1")
        val_images, _ = load_labelled_images(DatasetFolder(first_val), "val")
        empty = float(np.mean([dice_score(np.zeros_like(im.mask), im.mask) for im in val_images]))
        dice_v1_first = val_dice(v1.path, first_val)
        assert dice_v1_first == pytest.approx(v1.val_dice, abs=1e-6)  # the kept model is the one measured
        assert dice_v1_first > empty + 0.15, f"first model val Dice {dice_v1_first:.3f}, empty mask {empty:.3f}"

        # 20 more, and a fine-tune from v1
        save_ground_truth(store, dataset, ids[20:40])
        second, events = run_job(store, "v1", SECOND_FINETUNE)
        v2 = store.models.get(second)
        assert second == "v2" and v2.parent == "v1"
        assert any(isinstance(e, Validation) and e.step == 0 for e in events)  # v1 is candidate zero

        second_val = store.export_dataset(tmp_path / "export-2")
        dice_v1, dice_v2 = val_dice(v1.path, second_val), val_dice(v2.path, second_val)
        assert dice_v2 >= dice_v1 - 1e-6, f"fine-tune lowered val Dice: v1 {dice_v1:.3f}, v2 {dice_v2:.3f}"
        assert dice_v2 == pytest.approx(v2.val_dice, abs=1e-6)
