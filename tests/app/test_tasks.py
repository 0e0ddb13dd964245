"""The task registry and guessing a task from a path or a DICOM modality."""

import pytest

from leaf_core.tasks import TASKS, get_task, infer_task


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/kvasir-seg/images/a.jpg", "colonoscopy"),
        ("/data/CVC-ClinicDB/Original/1.tif", "colonoscopy"),
        ("/data/REFUGE2/train/x.png", "fundus"),
        ("/data/drishti-gs/images/x.png", "fundus"),
        ("/data/ISIC2018/x.jpg", "dermoscopy"),
        ("/data/PH2/images/x.bmp", "dermoscopy"),
        ("/data/QaTa-COV19/x.png", "chest_xray"),
        ("/data/covid-qu-ex/images/covid_1.png", "chest_xray"),
        ("/home/me/cxr/x.dcm", "chest_xray"),
        ("/home/me/fundus/polyp_3.png", "fundus"),  # folder names count, not the file's name
        ("/home/me/misc/x.png", None),
    ],
)
def test_infer_task_from_folder_names(path, expected):
    task = infer_task(path)
    assert (task.name if task else None) == expected


@pytest.mark.parametrize(("modality", "expected"), [("CR", "chest_xray"), ("DX", "chest_xray"), ("ES", "colonoscopy"),
                                                    ("OP", "fundus"), ("OPT", "fundus"), ("XC", "dermoscopy")])
def test_infer_task_from_dicom_modality_wins_over_folder(modality, expected):
    assert infer_task("/data/kvasir/x.dcm", modality).name == expected


def test_registry_labels_and_unknown_task():
    assert TASKS["fundus"].structure == "optic cup"
    assert get_task("colonoscopy").label == "Colonoscopy (polyp)"
    with pytest.raises(ValueError, match="unknown task"):
        get_task("brain")
