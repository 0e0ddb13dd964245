"""Dataset importers on small fake trees in each dataset's published layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from leaf_core.cli.main import main
from leaf_core.errors import InputFileError, LeafError
from leaf_core.io import DatasetFolder, import_dataset, read_mask

RNG = np.random.default_rng(0)


def photo(path: Path, size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def disc_mask(size: tuple[int, int] = (40, 30)) -> np.ndarray:
    """REFUGE encoding: 255 background, 128 disc rim, 0 cup."""
    values = np.full((size[1], size[0]), 255, np.uint8)
    values[5:25, 5:35] = 128
    values[10:20, 12:28] = 0
    return values


def binary(path: Path, size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.zeros((size[1], size[0]), np.uint8)
    values[3:9, 4:12] = 255
    Image.fromarray(values).save(path)


def test_refuge2_cup_from_0_128_255(tmp_path: Path) -> None:
    source = tmp_path / "REFUGE2"
    for part, prefix in (("train", "g"), ("val", "V"), ("test", "T")):
        for i in range(1, 3):
            photo(source / part / "Images" / f"{prefix}{i:04d}.jpg")
            (source / part / "Disc_Cup_Masks").mkdir(parents=True, exist_ok=True)
            Image.fromarray(disc_mask()).save(source / part / "Disc_Cup_Masks" / f"{prefix}{i:04d}.bmp")
    photo(source / "train" / "Images" / "g0003.jpg")  # no mask
    summary = import_dataset("refuge2", source, tmp_path / "out")
    assert summary.imported == 6 and summary.split_sizes == {"train": 2, "val": 2, "test": 2}
    assert [s.path.name for s in summary.skipped] == ["g0003.jpg"] and "no mask" in str(summary)
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert splits["val"] == ["V0001", "V0002"]
    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "masks" / "T0001.png"), disc_mask() == 0)
    assert (tmp_path / "out" / "images" / "g0001.jpg").read_bytes() == (source / "train" / "Images" / "g0001.jpg").read_bytes()
    assert "REFUGE2" in (tmp_path / "out" / "SOURCE.md").read_text()


def cvc_tree(source: Path, n: int = 20) -> None:
    for i in range(1, n + 1):
        (source / "Original").mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(source / "Original" / f"{i}.tif", RNG.integers(0, 255, (30, 40, 3), dtype=np.uint8))
        (source / "Ground Truth").mkdir(parents=True, exist_ok=True)
        gt = np.zeros((30, 40), np.uint8)
        gt[2:10, 3:13] = 255
        tifffile.imwrite(source / "Ground Truth" / f"{i}.tif", gt)


def test_cvc_clinicdb_80_10_10_is_reproducible(tmp_path: Path) -> None:
    cvc_tree(tmp_path / "CVC-ClinicDB")
    (tmp_path / "CVC-ClinicDB" / "Original" / "7.tif").write_bytes(b"II*\x00broken")
    tifffile.imwrite(tmp_path / "CVC-ClinicDB" / "Ground Truth" / "8.tif", np.zeros((10, 10), np.uint8))
    first = import_dataset("cvc-clinicdb", tmp_path / "CVC-ClinicDB", tmp_path / "a", seed=3)
    second = import_dataset("cvc-clinicdb", tmp_path / "CVC-ClinicDB", tmp_path / "b", seed=3)
    assert first.imported == 18 and first.split_sizes == {"train": 14, "val": 2, "test": 2}
    assert second.split_sizes == first.split_sizes
    problems = {s.path.name: s.problem for s in first.skipped}
    assert set(problems) == {"7.tif", "8.tif"} and "mask is 10x10 but its image is 40x30" in problems["8.tif"]
    for name in ("splits.json", "SOURCE.md", "masks/1.png", "images/1.tif"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert DatasetFolder(tmp_path / "a").split("train") == json.loads((tmp_path / "a" / "splits.json").read_text())["train"]


def test_qata_val_carved_from_train(tmp_path: Path) -> None:
    root = tmp_path / "QaTa-COV19" / "QaTa-COV19-v2"
    for part, n in (("Train Set", 10), ("Test Set", 4)):
        for i in range(1, n + 1):
            name = f"covid_{i}" if part == "Train Set" else f"sub-S{i}_ses-E1_run-1"
            binary_path = root / part / "Ground-truths" / f"mask_{name}.png"
            photo(root / part / "Images" / f"{name}.png")
            binary(binary_path)
    summary = import_dataset("qata-cov19", tmp_path / "QaTa-COV19", tmp_path / "out", seed=0)
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert summary.split_sizes == {"train": 8, "val": 2, "test": 4}
    assert all(i.startswith("sub-") for i in splits["test"])
    assert all(i.startswith("covid_") for i in splits["train"] + splits["val"])


def test_qata_same_names_in_train_and_test_get_prefixes(tmp_path: Path) -> None:
    root = tmp_path / "QaTa-COV19-v2"
    for part in ("Train Set", "Test Set"):
        for i in range(1, 4):
            photo(root / part / "Images" / f"covid_{i}.png")
            binary(root / part / "Ground-truths" / f"mask_covid_{i}.png")
    import_dataset("qata-cov19", root, tmp_path / "out")
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert splits["test"] == ["test-covid_1", "test-covid_2", "test-covid_3"]


def isic_tree(source: Path, n: int = 20) -> None:
    for i in range(n):
        photo(source / "ISIC2018_Task1-2_Training_Input" / f"ISIC_{i:07d}.jpg")
        binary(source / "ISIC2018_Task1_Training_GroundTruth" / f"ISIC_{i:07d}_segmentation.png")
    (source / "ISIC2018_Task1-2_Training_Input" / "LICENSE.txt").write_text("CC-BY-NC")


def test_isic_7_3_with_val(tmp_path: Path) -> None:
    isic_tree(tmp_path / "isic")
    summary = import_dataset("isic2018", tmp_path / "isic", tmp_path / "out")
    assert summary.split_sizes == {"train": 13, "val": 1, "test": 6} and not summary.skipped
    assert (tmp_path / "out" / "masks" / "ISIC_0000000.png").exists()


def test_cli_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    isic_tree(tmp_path / "isic", n=4)
    assert main(["import-dataset", "isic2018", str(tmp_path / "isic"), str(tmp_path / "out")]) == 0
    assert "imported 4 pairs" in capsys.readouterr().out
    assert main(["import-dataset", "isic2018", str(tmp_path / "isic"), str(tmp_path / "out")]) == 2
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(InputFileError, match="no folder named 'Original'"):
        import_dataset("cvc-clinicdb", tmp_path / "isic", tmp_path / "new")
    with pytest.raises(ValueError, match="unknown dataset"):
        import_dataset("kvasir", tmp_path / "isic", tmp_path / "new")
    (tmp_path / "empty" / "Original").mkdir(parents=True)
    (tmp_path / "empty" / "Ground Truth").mkdir()
    with pytest.raises(LeafError, match="nothing imported"):
        import_dataset("cvc-clinicdb", tmp_path / "empty", tmp_path / "new")
