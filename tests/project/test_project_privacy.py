"""Nothing identifying leaves a source file: not into the project folder, an export, or a model.

Identifiers are planted as unique tokens (DICOM attributes everywhere, PNG text chunks, JPEG
EXIF/XMP/ICC/comments, TIFF text tags, patient-like file and folder names) and searched for in
the bytes of every file the project, the export and a fine-tuned model folder hold.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image, PngImagePlugin

from leaf_core.cli.main import main as leaf_main
from leaf_core.errors import InputFileError, LeafError
from leaf_core.io.dataset_folder import DatasetFolder
from leaf_core.io.images import read_image
from leaf_core.io.masks import read_mask
from leaf_core.io.redaction import Box, needs_redaction_review
from leaf_core.project import catalog
from leaf_core.project.store import CorrectionStore
from leaf_core.testing import dicom_dataset, save_dicom, save_tiny_model
from leaf_core.testing_identifiers import planted_dicom, surviving_tokens

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
HEIGHT, WIDTH = 48, 64
NAME_TOKENS = ["DOE_JOHN", "MRN12345", "Roe_Richard"]  # in the file and folder names
RASTER_TOKENS = ["PNGNAME7Q", "PNGMRN7Q", "19450607", "XMPNAME7Q", "EXIFDESC7Q", "EXIFARTIST7Q", "JPEGCOM7Q",
                 "ICCTOKEN7Q", "TIFFDESC7Q", "TIFFARTIST7Q", "TIFFDOC7Q"]


def _pixels(seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (HEIGHT, WIDTH, channels) if channels > 1 else (HEIGHT, WIDTH)
    return rng.integers(20, 236, shape, dtype=np.uint8)


def _png_with_text(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("Name", "PNGNAME7Q")
    info.add_text("MRN", "PNGMRN7Q")
    info.add_itxt("BirthDate", "19450607")
    Image.fromarray(_pixels(1)).save(path, pnginfo=info)
    return path


def _jpeg_with_metadata(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x010E] = "EXIFDESC7Q"  # ImageDescription
    exif[0x013B] = "EXIFARTIST7Q"  # Artist
    exif[0x0112] = 6  # Orientation: the copy has the pixels turned, as shown on screen
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>XMPNAME7Q</dc:creator></x:xmpmeta>'
    Image.fromarray(_pixels(2)).save(path, "JPEG", quality=95, exif=exif, xmp=xmp, comment=b"JPEGCOM7Q",
                                     icc_profile=b"ICCTOKEN7Q" * 20)
    return path


def _tiff_with_text_tags(path: Path) -> Path:
    tifffile.imwrite(path, (_pixels(3, 1).astype(np.uint16) * 200), description="TIFFDESC7Q",
                     extratags=[(315, "s", 0, "TIFFARTIST7Q", True), (269, "s", 0, "TIFFDOC7Q", True)])
    return path


def _tokens_in(root: Path, tokens: list[str]) -> dict[str, list[str]]:
    """{file: [tokens found]} over every file under ``root``."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [t for t in tokens if t.encode() in data]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "Patient Roe_Richard"
    folder.mkdir()
    planted = planted_dicom(prefix="CT")
    bare = planted_dicom(prefix="BARE")
    return {
        "png": _png_with_text(folder / "DOE_JOHN_MRN12345.png"),
        "jpeg": _jpeg_with_metadata(folder / "DOE_JOHN_photo.jpg"),
        "tiff": _tiff_with_text_tags(folder / "MRN12345.tif"),
        "dicom": planted.write(folder / "DOE_JOHN_MRN12345.dcm"),
        "bare": bare.write(folder / "DOE_JOHN_scan", with_preamble=False),  # no preamble, no suffix
        "_planted": planted, "_bare": bare,  # type: ignore[dict-item]
    }


FOLDER_TOKEN = "DOE-JANE-FOLDER-4711"


def _all_tokens(sources: dict) -> list[str]:
    planted = [*sources["_planted"].tokens, *sources["_planted"].uids, *sources["_bare"].tokens, *sources["_bare"].uids]
    return NAME_TOKENS + RASTER_TOKENS + planted


def test_no_token_in_the_project_the_export_or_a_model(tmp_path: Path, sources: dict) -> None:
    tokens = _all_tokens(sources)
    inputs = [sources[k] for k in ("png", "jpeg", "tiff", "dicom", "bare")]
    for token in RASTER_TOKENS:  # the sources really hold them
        assert any(token.encode() in p.read_bytes() for p in inputs), token
    store = CorrectionStore.create(tmp_path / "project")
    for path in inputs:
        store.save_correction(path, _left_half(path), _left_half(path), "v1", "tester", task="polyp")
    assert [r.source_format for r in store.latest_corrections()] == ["png", "jpeg", "tiff", "dicom", "dicom"]
    keys = [store.image_key_for(path) for path in inputs]
    export = store.export_dataset(tmp_path / "export")
    store.close()

    assert _tokens_in(tmp_path / "project", tokens) == {}
    assert _tokens_in(export, tokens) == {}
    for path in (tmp_path / "project" / "files").iterdir():  # raster copies: pixels only
        if path.suffix == ".png":
            assert _png_chunk_types(path.read_bytes()) <= {b"IHDR", b"IDAT", b"IEND"}, path
    dataset = DatasetFolder(export)
    assert sorted(dataset.ids) == sorted(keys) and all(len(key) == 16 for key in keys)
    for key, source in zip(keys, inputs, strict=True):  # the exported pixels are the source's as shown
        exported = read_image(dataset.image_path(key))
        np.testing.assert_array_equal(exported.rgb, read_image(source).rgb)
        if exported.intensity is not None:
            np.testing.assert_array_equal(exported.intensity, read_image(source).intensity)

    model = tmp_path / "model"
    training_data = export.rename(tmp_path / FOLDER_TOKEN)  # folders a clinic names after a patient
    code = leaf_main(["finetune", "--model", str(save_tiny_model(tmp_path / "tiny")), "--data", str(training_data),
                      "--out", str(model), "--steps", "1", "--val-every", "1"])
    assert code == 0 and (model / "model_card.json").is_file()
    assert _tokens_in(model, [*tokens, FOLDER_TOKEN]) == {}


def _left_half(path: Path) -> np.ndarray:
    height, width = read_image(path).rgb.shape[:2]
    return np.arange(width)[None, :].repeat(height, 0) < width // 2


def _png_chunk_types(data: bytes) -> set[bytes]:
    types, offset = set(), 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        types.add(data[offset + 4 : offset + 8])
        offset += 12 + length
    return types


def test_a_bare_dicom_without_suffix_is_detected_by_content(tmp_path: Path, sources: dict) -> None:
    with CorrectionStore.create(tmp_path / "project") as store:
        record = store.save_correction(sources["bare"], _left_half(sources["bare"]), None, None, "tester")
        assert record.source_format == "dicom" and record.image_path.suffix == ".dcm"
        stored = pydicom.dcmread(record.image_path)
        assert stored.PatientIdentityRemoved == "YES"
        assert surviving_tokens(record.image_path.read_bytes(), sources["_bare"]) == {}
        np.testing.assert_array_equal(stored.pixel_array, sources["_bare"].dataset.pixel_array)


def test_burned_in_annotation_is_refused_naming_the_file(tmp_path: Path) -> None:
    ds = dicom_dataset(_pixels(5, 1), Modality="US", BurnedInAnnotation="YES")
    source = save_dicom(ds, tmp_path / "echo.dcm")
    with CorrectionStore.create(tmp_path / "project") as store:
        with pytest.raises(InputFileError, match=r"echo\.dcm.*burned-in annotation"):
            store.save_correction(source, np.zeros((HEIGHT, WIDTH), bool), None, None, "tester")
        assert list(store.files_dir.iterdir()) == [] and store.latest_corrections() == []


def test_which_images_need_a_redaction_review(tmp_path: Path) -> None:
    def meta(modality: str, **attributes: object):  # noqa: ANN202
        return read_image(save_dicom(dicom_dataset(_pixels(6, 1), Modality=modality, **attributes),
                                     tmp_path / f"{modality}{len(attributes)}.dcm")).meta

    photo = tmp_path / "photo.png"
    Image.fromarray(_pixels(7)).save(photo)
    assert needs_redaction_review(read_image(photo).meta)  # every photo
    for modality in ("US", "ES", "XC", "SC", "OT"):
        assert needs_redaction_review(meta(modality)), modality
    assert not needs_redaction_review(meta("US", BurnedInAnnotation="NO"))  # the file rules it out
    assert not needs_redaction_review(meta("CT")) and not needs_redaction_review(meta("CR"))


def test_redaction_boxes_are_painted_in_the_stored_copy_and_recorded(tmp_path: Path) -> None:
    photo = tmp_path / "frame.png"
    Image.fromarray(_pixels(8)).save(photo)
    frames = np.stack([_pixels(9 + i, 1) for i in range(2)])
    echo = save_dicom(dicom_dataset(frames, frames=2, Modality="US", sop_class=US_IMAGE), tmp_path / "echo.dcm")
    boxes = [Box(0, 0, 20, 6), Box(50, 40, 200, 200)]  # the second runs off the image: clipped
    mask = np.zeros((HEIGHT, WIDTH), bool)
    with CorrectionStore.create(tmp_path / "project") as store:
        plain = store.save_correction(photo, mask, None, None, "tester")
        redacted = store.save_correction(photo, mask, None, None, "tester", redactions=boxes)
        assert plain.redactions == () and redacted.redactions == tuple(boxes)
        assert redacted.image_path != plain.image_path and redacted.image_key == plain.image_key
        painted = read_image(redacted.image_path).rgb
        assert (painted[:6, :20] == 0).all() and (painted[40:, 50:] == 0).all()
        untouched = np.ones((HEIGHT, WIDTH), bool)
        untouched[:6, :20] = untouched[40:, 50:] = False
        np.testing.assert_array_equal(painted[untouched], read_image(photo).rgb[untouched])
        np.testing.assert_array_equal(read_image(plain.image_path).rgb, read_image(photo).rgb)  # history kept

        dicom = store.save_correction(echo, mask, None, None, "tester", frame=1, redactions=boxes[:1])
        stored = pydicom.dcmread(dicom.image_path).pixel_array
        assert (stored[:, :6, :20] == 0).all()  # every frame
        assert "113101" in [c.CodeValue for c in pydicom.dcmread(dicom.image_path).DeidentificationMethodCodeSequence]
        export = DatasetFolder(store.export_dataset(tmp_path / "export"))
        exported = read_image(export.image_path(redacted.image_key)).rgb
        assert (exported[:6, :20] == 0).all()
        frame_png = read_image(export.image_path(dicom.image_key))  # the frame of a multi-frame file, as PNG
        assert frame_png.meta.source_format == "png"
        np.testing.assert_array_equal(frame_png.rgb, read_image(dicom.image_path, 1).rgb)
        assert (frame_png.rgb[:6, :20] == 0).all()
        outside = np.ones((HEIGHT, WIDTH), bool)
        outside[:6, :20] = False
        np.testing.assert_array_equal(stored[:, outside], frames[:, outside])
    with CorrectionStore.open(tmp_path / "project") as reopened:  # the boxes are in the catalog
        assert [r.redactions for r in reopened.history(plain.image_key)] == [(), tuple(boxes)]
        assert reopened.latest_correction(dicom.image_key).redactions == (boxes[0],)


def test_the_exporter_refuses_dicom_it_did_not_de_identify(tmp_path: Path) -> None:
    source = planted_dicom().write(tmp_path / "ct.dcm")
    with CorrectionStore.create(tmp_path / "project") as store:
        record = store.save_correction(source, np.zeros((64, 80), bool), None, None, "tester")
        record.image_path.write_bytes(source.read_bytes())  # a stored copy swapped for the raw file
        with pytest.raises(LeafError, match="did not de-identify"):
            store.export_dataset(tmp_path / "export")
        assert not (tmp_path / "export").exists()


# ---------------------------------------------------------------- version 1 catalogs
V1_CORRECTIONS = """CREATE TABLE corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT, image_key TEXT NOT NULL, revision INTEGER NOT NULL,
    source_name TEXT, source_format TEXT NOT NULL, frame INTEGER, image_file TEXT NOT NULL,
    corrected_file TEXT NOT NULL, original_file TEXT, height INTEGER NOT NULL, width INTEGER NOT NULL,
    model_version TEXT, author TEXT NOT NULL, task TEXT, created_utc TEXT NOT NULL, dice_change REAL,
    UNIQUE (image_key, revision))"""


def _version_1_project(root: Path, sources: dict) -> dict[str, Path]:
    """A project as version 1 wrote it: raw raster copies, plain SHA-256 names, file names kept."""
    import hashlib

    from leaf_core.io.masks import encode_mask_png
    from leaf_core.project.identity import identify_image

    (root / "files").mkdir(parents=True)
    (root / "models").mkdir()
    salt = "0123456789abcdef0123456789abcdef"
    db = sqlite3.connect(root / "catalog.sqlite")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(V1_CORRECTIONS)
    db.execute("CREATE TABLE split_assignments (scheme TEXT NOT NULL, image_key TEXT NOT NULL, "
               "part TEXT NOT NULL CHECK (part IN ('train', 'val')), PRIMARY KEY (scheme, image_key))")
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("secret_salt", salt)])
    keys = {}
    for kind in ("png", "jpeg"):
        source = sources[kind]
        data = source.read_bytes()
        name = hashlib.sha256(data).hexdigest() + source.suffix
        (root / "files" / name).write_bytes(data)
        mask = encode_mask_png(np.arange(WIDTH)[None, :].repeat(HEIGHT, 0) < 30)
        mask_name = hashlib.sha256(mask).hexdigest() + ".png"
        (root / "files" / mask_name).write_bytes(mask)
        key = identify_image(source, None, salt).key
        for revision in (1, 2):
            db.execute("INSERT INTO corrections (image_key, revision, source_name, source_format, image_file, "
                       "corrected_file, height, width, author, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, revision, source.name, kind, name, mask_name, HEIGHT, WIDTH, "tester",
                        "2024-01-01T00:00:00.000+00:00"))
        keys[key] = source
    db.commit()
    db.close()
    return keys


def test_a_version_1_project_opens_upgraded_and_scrubbed(tmp_path: Path, sources: dict) -> None:
    keys = _version_1_project(tmp_path / "old", sources)
    assert _tokens_in(tmp_path / "old", ["DOE_JOHN", "PNGNAME7Q", "EXIFDESC7Q"])  # version 1 kept them
    with CorrectionStore.open(tmp_path / "old") as store:
        assert catalog.read_meta(store._connection, "schema_version") == str(catalog.SCHEMA_VERSION)
        assert not store.keep_display_names
        latest = store.latest_corrections()
        assert sorted(r.image_key for r in latest) == sorted(keys)
        for record in latest:
            source = keys[record.image_key]
            assert store.image_key_for(source) == record.image_key  # keys survive the upgrade
            assert [r.revision for r in store.history(record.image_key)] == [1, 2]
            assert record.source_name is None and record.image_path.suffix == ".png"
            np.testing.assert_array_equal(read_image(record.image_path).rgb, read_image(source).rgb)
            np.testing.assert_array_equal(read_mask(record.corrected_mask_path), np.arange(WIDTH)[None, :].repeat(
                HEIGHT, 0) < 30)
        store.save_correction(sources["tiff"], np.zeros((HEIGHT, WIDTH), bool), None, None, "tester")
        assert len(list(store.files_dir.iterdir())) == 5  # 2 images, their shared mask, the new image and its mask
    assert _tokens_in(tmp_path / "old", NAME_TOKENS + RASTER_TOKENS) == {}
    with CorrectionStore.open(tmp_path / "old") as again:  # a second open changes nothing
        assert len(again.latest_corrections()) == 3


def test_a_newer_catalog_is_refused(tmp_path: Path) -> None:
    CorrectionStore.create(tmp_path / "p").close()
    with sqlite3.connect(tmp_path / "p" / "catalog.sqlite") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LeafError, match="newer LEAF Annotate"):
        CorrectionStore.open(tmp_path / "p")


def test_the_training_copy_has_no_file_metadata(tmp_path: Path, sources: dict) -> None:
    with CorrectionStore.create(tmp_path / "project") as store:
        jpeg = store.save_correction(sources["jpeg"], np.zeros((WIDTH, HEIGHT), bool), None, None, "tester")
        tiff = store.save_correction(sources["tiff"], np.zeros((HEIGHT, WIDTH), bool), None, None, "tester")
    with Image.open(jpeg.image_path) as copy:
        assert copy.format == "PNG" and copy.size == (HEIGHT, WIDTH)  # EXIF orientation applied to the pixels
        assert not copy.info.get("icc_profile") and not copy.getexif()
    with Image.open(tiff.image_path) as copy:
        assert copy.mode == "I;16"  # 16-bit grey stays 16-bit
    np.testing.assert_array_equal(np.asarray(Image.open(tiff.image_path)), tifffile.imread(sources["tiff"]))
    assert (jpeg.source_format, tiff.source_format) == ("jpeg", "tiff")  # by content
