"""Mutated files of every format, each read in a forked child under a memory cap.

Run as a script (test_fuzz.py does): ``python fuzz_harness.py N_FILES SEED WORK_FOLDER``. It
prints one JSON object: the outcome of every file, the peak RSS of every child and the time.

Design: this process imports the readers and warms every decoder once, then for each mutated
file forks a child; the child caps its address space (RLIMIT_AS), its CPU time (RLIMIT_CPU) and
its wall time (an alarm), runs the readers and writes its outcome to a pipe; the parent takes
the child's peak RSS from os.wait4's rusage. So no file can take the test process down, and a
child killed by a cap, a signal or the alarm shows as an outcome of its own.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import tifffile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless, generate_uid

from reference_files import dicom_cxr_files, pydicom_test_files

from leaf_core.errors import InputFileError
from leaf_core.io import image_size, read_image, read_mask

ADDRESS_SPACE_HEADROOM = 3 << 30  # the cap: what the process had mapped at fork, plus 3 GiB
CHILD_CPU_SECONDS = 30  # a loop shows as SIGXCPU, whatever else loads the machine
CHILD_WALL_SECONDS = 300  # the backstop for a child that blocks without using the CPU
READERS: tuple[Callable[[Path], object], ...] = (image_size, read_image, read_mask)
# pydicom's own files, one per kind of encoding (small ones, so that 1,000 reads take minutes)
PYDICOM_SEEDS = (
    "CT_small.dcm",  # TIFF header in the preamble
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_bigendian.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless
    "JPEG2000.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "OT-PAL-8-face.dcm",
    "eCT_Supplemental.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "JPEGLSNearLossless_16.dcm",
)
# the real chest files, fewer mutations each (they are 0.4 to 4 MB)
CXR_SEEDS = ("gdcm-CR-MONO1-10-chest.dcm", "Monochrome1-Jpeg.dcm", "RG1_J2KI.dcm", "RG1_JLSN.dcm")
CXR_SHARE = 0.04


def _encoded(save: Callable[[io.BytesIO], None]) -> bytes:
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getvalue()


def _dicom(pixels: np.ndarray, photometric: str = "MONOCHROME2", **attributes: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.set_pixel_data(pixels, photometric, 8 * pixels.dtype.itemsize)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def written_seeds() -> dict[str, bytes]:
    """Files written here by Pillow, tifffile and pydicom: every format and layout we read."""
    rows, cols = np.mgrid[0:48, 0:64]
    colour = np.stack([rows * 5, cols * 4, 255 - rows * 3], axis=2).astype(np.uint8)
    grey16 = (100 + rows * 60 + cols * 20).astype(np.uint16)
    seeds = {
        "rgb8.png": _encoded(lambda b: Image.fromarray(colour).save(b, "PNG")),
        "grey16.png": _encoded(lambda b: Image.fromarray(grey16).save(b, "PNG")),
        "palette.png": _encoded(lambda b: Image.fromarray(colour).quantize(16).save(b, "PNG")),
        "rgb.jpg": _encoded(lambda b: Image.fromarray(colour).save(b, "JPEG", quality=90)),
        "rgb.bmp": _encoded(lambda b: Image.fromarray(colour).save(b, "BMP")),
        "grey16.tif": _encoded(lambda b: tifffile.imwrite(b, grey16)),
        "rgb.tif": _encoded(lambda b: tifffile.imwrite(b, colour, compression="zlib")),
        "planar16.tif": _encoded(lambda b: tifffile.imwrite(b, np.moveaxis(colour.astype(np.uint16) * 257, 2, 0), planarconfig="separate", photometric="rgb")),
        "pages.tif": _encoded(lambda b: tifffile.imwrite(b, np.stack([grey16, grey16 + 9, grey16 + 99]))),
    }
    plain = _dicom(grey16, RescaleSlope=2, RescaleIntercept=-1024, WindowCenter=40, WindowWidth=400)
    rle = _dicom(grey16)
    rle.compress(RLELossless)
    j2k = _dicom(grey16)
    j2k.compress(JPEG2000Lossless)
    jpeg = _dicom(colour, "RGB")
    jpeg.PixelData = encapsulate([_encoded(lambda b: Image.fromarray(colour).save(b, "JPEG", quality=90, subsampling=1))])
    jpeg["PixelData"].VR = "OB"
    jpeg.PhotometricInterpretation = "YBR_FULL_422"
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    for name, ds in (("plain.dcm", plain), ("rle.dcm", rle), ("j2k.dcm", j2k), ("jpeg.dcm", jpeg)):
        seeds[name] = _encoded(lambda b, ds=ds: ds.save_as(b, enforce_file_format=True))
    return seeds


def real_seeds() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(pydicom's files, also pydicom-data's when installed; the dicom-cxr files when present)."""
    available = {path.name: path for path in pydicom_test_files()}
    pydicom_files = {name: available[name].read_bytes() for name in PYDICOM_SEEDS if name in available}
    cxr = {path.name: path.read_bytes() for path in dicom_cxr_files() if path.name in CXR_SEEDS}
    return pydicom_files, cxr


_INTERESTING = (b"\x00\x00", b"\xff\xff", b"\xff\x7f", b"\x00\x80", b"\xff\xff\xff\x7f", b"\x00\x00\x01\x00", b"\x01")
_HEADER_BYTES = 4096  # where sizes, tags and codestream headers live
_INTEGER_FORMATS = ("<H", ">H", "<I", ">I")


def _size_fields(data: bytes, size: tuple[int, int]) -> list[tuple[int, str]]:
    """(offset, struct format) of every header integer that holds the image's height or width:
    PNG IHDR, BMP, TIFF tags, DICOM Rows/Columns, JPEG SOF, JPEG 2000 SIZ all store them so."""
    fields = []
    for value in set(size):
        for fmt in _INTEGER_FORMATS:
            encoded = struct.pack(fmt, value)
            position = data.find(encoded, 0, _HEADER_BYTES)
            while position != -1:
                fields.append((position, fmt))
                position = data.find(encoded, position + 1, _HEADER_BYTES)
    return fields


def mutate(data: bytes, size: tuple[int, int] | None, rng: random.Random) -> bytes:
    """A few damages: header sizes grown (the memory bombs), flips, header integers set to
    extremes, truncation, splices."""
    out = bytearray(data)
    fields = _size_fields(data, size) if size else []
    for _ in range(rng.randint(1, 6)):
        kind = rng.random()
        if kind < 0.3 and fields:
            for position, fmt in rng.sample(fields, min(len(fields), rng.randint(1, 3))):
                top = 0xFFFF if fmt.endswith("H") else 0xFFFFFFFF
                out[position : position + struct.calcsize(fmt)] = struct.pack(fmt, min(top, rng.choice((rng.randint(2000, 30000), top))))
        elif kind < 0.5:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind < 0.75:
            value = rng.choice(_INTERESTING)
            position = rng.randrange(max(1, min(len(out), _HEADER_BYTES) - len(value)))
            out[position : position + len(value)] = value
        elif kind < 0.9:
            del out[rng.randrange(len(out) // 4, len(out)) :]
        else:
            position = rng.randrange(len(out))
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        if not out:
            out = bytearray(b"\x00")
    return bytes(out)


def _rss_kb() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _check_image(image: object) -> str:
    """'' for a well-formed LoadedImage, else what is wrong with it."""
    rgb = image.rgb  # type: ignore[attr-defined]
    meta = image.meta  # type: ignore[attr-defined]
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape != (meta.height, meta.width, 3):
        return f"rgb {rgb.dtype} {rgb.shape} for a {meta.width}x{meta.height} image"
    intensity = image.intensity  # type: ignore[attr-defined]
    if intensity is not None and intensity.shape != rgb.shape[:2]:
        return f"intensity {intensity.shape} for rgb {rgb.shape}"
    return ""


def _child(path: Path, write_end: int) -> None:
    """Read ``path`` with every reader under the caps; report through the pipe; never return."""
    outcome, detail, start_kb = "", "", 0
    try:
        start_kb = _rss_kb()
        with open("/proc/self/statm") as handle:
            mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + ADDRESS_SPACE_HEADROOM, mapped + ADDRESS_SPACE_HEADROOM))
        resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS + 5))
        signal.alarm(CHILD_WALL_SECONDS)
        for reader in READERS:
            try:
                result = reader(path)
            except InputFileError as error:
                if path.name not in str(error):
                    outcome, detail = "unnamed file", str(error)
                    break
                if reader is read_image:
                    outcome, detail = "refused", error.problem[:200]
                continue
            if reader is read_image:
                problem = _check_image(result)
                outcome, detail = ("bad image", problem) if problem else ("decoded", "")
                if problem:
                    break
    except BaseException as error:  # what this test is for: anything else is a finding
        outcome, detail = type(error).__name__, str(error)[:300]
    os.write(write_end, json.dumps({"outcome": outcome, "detail": detail, "start_kb": start_kb}).encode())
    os._exit(0)


def read_in_child(path: Path) -> dict[str, object]:
    """Fork, read, wait: the child's report plus its peak RSS (KiB) from the kernel."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(path, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    result = json.loads(report) if report else {"outcome": f"died (status {status}, signal {os.WTERMSIG(status) if os.WIFSIGNALED(status) else None})", "detail": "", "start_kb": 0}
    result["peak_kb"] = usage.ru_maxrss
    return result


def run(n_files: int, seed: int, folder: Path) -> dict[str, object]:
    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    written = written_seeds()
    pydicom_files, cxr = real_seeds()
    small = {**written, **pydicom_files}
    sizes: dict[str, tuple[int, int] | None] = {}
    for name, data in {**small, **cxr}.items():  # warm every decoder here, once, before forking
        (folder / name).write_bytes(data)
        sizes[name] = None
        for reader in READERS:
            try:
                result = reader(folder / name)
            except InputFileError:
                continue
            if reader is image_size:
                sizes[name] = result
    started = time.perf_counter()
    results = []
    names = sorted(small)
    for i in range(n_files):
        if cxr and rng.random() < CXR_SHARE:
            name = rng.choice(sorted(cxr))
            data = cxr[name]
        else:
            name = names[i % len(names)]
            data = small[name]
        path = folder / f"{i:05d}_{name}"
        path.write_bytes(mutate(data, sizes[name], rng))
        result = read_in_child(path)
        result.update(file=path.name, seed_file=name, size=path.stat().st_size)
        results.append(result)
        path.unlink()
    return {
        "seconds": time.perf_counter() - started,
        "seeds": sorted(small) + sorted(cxr),
        "parent_rss_kb": _rss_kb(),
        "results": results,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))))
