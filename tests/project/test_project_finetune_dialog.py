"""The Fine-tune dialog and the Model versions menu, driven with clicks and fake `leaf` jobs."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from project_helpers import write_fake_model  # noqa: E402

from leaf_app.ui import job_runner as job_runner_module  # noqa: E402
from leaf_app.ui.finetune_dialog import NEW_MODEL_LABEL, FinetuneDialog, training_device_label  # noqa: E402
from leaf_app.ui.model_versions import NO_VERSIONS_TEXT, ModelVersionsMenu  # noqa: E402
from leaf_core.project.first_model import first_model_settings  # noqa: E402
from leaf_core.project.model_jobs import prepare_job  # noqa: E402

TIMEOUT_MS = 15000


def _add_version(store, val_dice: float) -> str:
    staging = store.models.allocate_next()
    write_fake_model(staging / "m", val_dice=val_dice)
    return store.models.commit_version(staging / "m", None, "made by the test")


def _dialog(qtbot, store, fake_job_command, mode: str, calls: list | None = None, **kwargs) -> FinetuneDialog:
    def factory(store, start_from, settings, autoencoder):
        job = prepare_job(store, start_from, settings, autoencoder)  # the real export and command
        if calls is not None:
            calls.append((start_from, settings, job))
        return dataclasses.replace(job, command=fake_job_command(mode, job.out_dir))

    dialog = FinetuneDialog(store, job_factory=factory, device_label="CPU", **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_first_finetune_without_a_model_starts_from_the_cpu_preset(qtbot, filled_store, fake_job_command, tmp_path) -> None:
    calls = []
    dialog = _dialog(qtbot, filled_store, fake_job_command, "ok-train", calls)
    assert [dialog.start_from.itemText(i) for i in range(dialog.start_from.count())] == [NEW_MODEL_LABEL]
    assert "no model yet" in dialog.no_model_note.text() and "TAESD" in dialog.no_model_note.text()
    recipe = first_model_settings(filled_store.image_count())  # a new model gets the first-model recipe
    assert dialog.device.text() == "CPU" and dialog.steps.value() == recipe.steps
    dialog.steps.setValue(120)

    with qtbot.waitSignal(dialog.versionCreated, timeout=TIMEOUT_MS) as created:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.text() == "Cancel"
    start_from, settings, job = calls[0]
    assert start_from is None and settings.steps == 120 and job.kind == "train"
    assert settings.resolution == recipe.resolution and f"--resolution {recipe.resolution}" in " ".join(job.command)
    frozen = recipe.frozen_image_encoder_layers
    assert frozen and f"--frozen-image-encoder-layers {frozen}" in " ".join(job.command)
    assert recipe.quarter_turns and "--quarter-turns" in job.command
    assert recipe.keep_best_from == 0.5 and "--select-from-step 60" in " ".join(job.command)  # half of 120
    assert "--preset" in job.command and "--autoencoder" not in job.command  # the embedded TAESD
    assert job.notice is None  # no stage one: nothing more happens than the user asked for
    assert created.args == ["v1"]
    # With no model before, the first one is put in use right away.
    assert filled_store.models.current_version() == "v1"
    assert "v1: val Dice 0.750" in dialog.result_label.text() and "now the model in use" in dialog.result_label.text()
    assert dialog.result_box.isVisible() and not dialog.switch_button.isVisible()
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 4
    assert dialog.step_label.text() == "Step 4 / 4" and dialog.loss_label.text() == "Loss 0.2500"
    assert dialog.val_label.text() == "Val Dice 0.750 (step 4)"


def test_an_autoencoder_override_is_passed_to_a_new_model(qtbot, filled_store, fake_job_command, tmp_path) -> None:
    calls = []
    default = _dialog(qtbot, filled_store, fake_job_command, "ok-train")
    assert "TAESD autoencoder that ships with LEAF Annotate" in default.no_model_note.text()
    (tmp_path / "taesd").mkdir()
    for name in ("taesd_encoder.safetensors", "taesd_decoder.safetensors"):
        (tmp_path / "taesd" / name).write_bytes(b"")
    dialog = _dialog(qtbot, filled_store, fake_job_command, "ok-train", calls, new_model_autoencoder=str(tmp_path / "taesd"))
    assert str(tmp_path / "taesd") in dialog.no_model_note.text()
    with qtbot.waitSignal(dialog.versionCreated, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert str(tmp_path / "taesd") in calls[0][2].command


def test_success_offers_to_switch_and_switch_changes_current(qtbot, filled_store, fake_job_command) -> None:
    _add_version(filled_store, 0.6)
    filled_store.models.set_current("v1")
    calls = []
    dialog = _dialog(qtbot, filled_store, fake_job_command, "ok", calls)
    assert dialog.start_from.currentData() == "v1" and dialog.no_model_note.isHidden()

    with qtbot.waitSignal(dialog.versionCreated, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert calls[0][0] == "v1" and calls[0][2].kind == "finetune"
    assert filled_store.models.current_version() == "v1"  # never switched behind the user's back
    # The start model's Dice on this very val split (the job's step-0 validation) is the comparison.
    assert dialog.result_label.text() == (
        "New version v2: val Dice 0.750 vs current v1: 0.500. Switch to the new version?"
    )
    assert filled_store.models.get("v2").parent == "v1"
    assert dialog.status.text() == ("Training finished: v2 was added to the project. "
                                    "Note: alignment off: no teacher; training without feature alignment.")
    with qtbot.waitSignal(dialog.currentVersionChanged, timeout=TIMEOUT_MS) as changed:
        qtbot.mouseClick(dialog.switch_button, Qt.MouseButton.LeftButton)
    assert changed.args == ["v2"] and filled_store.models.current_version() == "v2"
    assert not dialog.isVisible()


def test_an_installed_model_outside_the_project_can_be_the_start(qtbot, filled_store, fake_job_command, tmp_path) -> None:
    installed = write_fake_model(tmp_path / "installed", val_dice=0.4)
    calls = []
    dialog = _dialog(qtbot, filled_store, fake_job_command, "ok", calls, external_models=[("Installed: kvasir", installed)])
    assert dialog.start_from.currentText() == "Installed: kvasir" and dialog.no_model_note.isHidden()
    with qtbot.waitSignal(dialog.versionCreated, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    job = calls[0][2]
    assert job.kind == "finetune" and job.start_model == installed and job.parent_version is None
    assert filled_store.models.current_version() == "v1"


def test_cancel_leaves_the_project_as_it_was(qtbot, filled_store, fake_job_command, monkeypatch) -> None:
    monkeypatch.setattr(job_runner_module, "CANCEL_GRACE_MS", 300)
    _add_version(filled_store, 0.6)
    filled_store.models.set_current("v1")
    dialog = _dialog(qtbot, filled_store, fake_job_command, "sleep")
    with qtbot.waitSignal(dialog.runner.progress, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.step_label.text() == "Step 1 / 100"
    with qtbot.waitSignal(dialog.runner.cancelled, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert [v.name for v in filled_store.models.list_versions()] == ["v1"]
    assert filled_store.models.current_version() == "v1"
    assert list(filled_store.models.root.glob(".staging-*")) == []
    assert not dialog.isVisible()  # Cancel while training cancels, then closes


def test_failure_is_shown_plainly(qtbot, filled_store, fake_job_command) -> None:
    dialog = _dialog(qtbot, filled_store, fake_job_command, "oom")
    with qtbot.waitSignal(dialog.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert "ran out of memory" in dialog.status.text() and "unchanged" in dialog.status.text()
    assert dialog.start_button.isEnabled() and dialog.isVisible()
    assert filled_store.models.list_versions() == []


def test_too_few_corrections_cannot_start(qtbot, tmp_path, fake_job_command) -> None:
    from leaf_core.project.store import CorrectionStore

    store = CorrectionStore.create(tmp_path / "empty")
    dialog = _dialog(qtbot, store, fake_job_command, "ok")
    assert not dialog.start_button.isEnabled() and "at least 2 corrected images" in dialog.status.text()


def test_device_label_names_the_gpu(monkeypatch) -> None:
    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda index: "NVIDIA H100")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert training_device_label() == "CUDA: NVIDIA H100"
    cuda.is_available = lambda: False
    assert training_device_label() == "CPU"


def test_model_versions_menu_lists_and_switches(qtbot, filled_store) -> None:
    menu = ModelVersionsMenu(filled_store.models)
    qtbot.addWidget(menu)
    assert [a.text() for a in menu.actions()] == [NO_VERSIONS_TEXT]
    _add_version(filled_store, 0.6)
    _add_version(filled_store, 0.7)
    filled_store.models.set_current("v1")
    menu.refresh()
    actions = menu.version_actions()
    assert [a.text() for a in actions] == ["v2 (val Dice 0.700)", "v1 (val Dice 0.600)"]
    assert [a.isChecked() for a in actions] == [False, True]
    with qtbot.waitSignal(menu.currentVersionChanged, timeout=TIMEOUT_MS) as changed:
        actions[0].trigger()
    assert changed.args == ["v2"] and filled_store.models.current_version() == "v2"
    assert [a.isChecked() for a in menu.version_actions()] == [True, False]
