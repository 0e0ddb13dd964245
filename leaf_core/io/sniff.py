"""What a file is, from its first bytes (magic numbers), never from its name.

``is_dicom`` is the one answer to "is this DICOM" for the reader, the store and the exporters.
DICOM is checked first: a dual-personality file (a TIFF header in the 128-byte preamble, which
the standard allows) is DICOM. Without the preamble and 'DICM', a file is DICOM when its first
data elements parse as DICOM (explicit or implicit VR) with ascending tags.
"""

from __future__ import annotations

import struct
from pathlib import Path

from leaf_core.errors import InputFileError

HEADER_BYTES = 512
_DICM_OFFSET = 128
_RASTER_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"BM", "bmp"),
)
_VALID_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
# groups a dataset without a preamble starts with: file meta, identification, patient, acquisition
_FIRST_GROUPS = frozenset((0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028))
_ELEMENTS_TO_CHECK = 3
# without a VR to check, a header element longer than this is taken as noise
_MAX_IMPLICIT_HEADER_LENGTH = 1 << 16


def read_header(path: str | Path, size: int = HEADER_BYTES) -> bytes:
    """The first ``size`` bytes of a file; InputFileError for a folder, a missing or empty file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(size)
    except IsADirectoryError:
        raise InputFileError(path, "is a folder, not an image file") from None
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be opened ({error.strerror or error})") from None
    if not head:
        raise InputFileError(path, "empty file (0 bytes)")
    return head


def has_dicom_preamble(head: bytes) -> bool:
    """True when 'DICM' follows a 128-byte preamble (a conformant DICOM Part 10 file)."""
    return head[_DICM_OFFSET : _DICM_OFFSET + 4] == b"DICM"


def _parses_as_elements(head: bytes, explicit_vr: bool, byte_order: str) -> bool:
    """True when the first data elements of ``head`` parse with ascending tags.

    ``byte_order`` is '<' (little endian) or '>' (big endian, retired but still met).
    """
    offset, previous_tag, parsed = 0, -1, 0
    while parsed < _ELEMENTS_TO_CHECK and offset + 8 <= len(head):
        group, element = struct.unpack_from(f"{byte_order}HH", head, offset)
        tag = (group << 16) | element
        if tag <= previous_tag or (parsed == 0 and group not in _FIRST_GROUPS):
            return False
        if explicit_vr:
            vr = head[offset + 4 : offset + 6]
            if vr not in _VALID_VRS:
                return False
            if vr in _LONG_VRS:
                if offset + 12 > len(head) or head[offset + 6 : offset + 8] != b"\x00\x00":
                    return False
                length = struct.unpack_from(f"{byte_order}I", head, offset + 8)[0]
                offset += 12
            else:
                length = struct.unpack_from(f"{byte_order}H", head, offset + 6)[0]
                offset += 8
        else:
            length = struct.unpack_from(f"{byte_order}I", head, offset + 4)[0]
            offset += 8
            if length != 0xFFFFFFFF and length > _MAX_IMPLICIT_HEADER_LENGTH:
                return False
        if length == 0xFFFFFFFF:  # undefined length (a sequence): what follows is nested
            return parsed >= 1 or explicit_vr
        offset += length
        previous_tag = tag
        parsed += 1
    return parsed >= 2 or (parsed == 1 and offset == len(head))  # or a one-element file


_ENCODINGS = ((True, "<"), (False, "<"), (True, ">"))  # explicit LE, implicit LE, explicit BE


def is_dicom(source: str | Path | bytes) -> bool:
    """True when a file (a path, or its first bytes) holds DICOM, judged by content only.

    Accepts Part 10 files ('DICM' at offset 128, whatever the preamble holds, a TIFF header
    included) and bare datasets without preamble (explicit or implicit VR little endian, explicit
    VR big endian).
    A path that cannot be read raises InputFileError.
    """
    head = source if isinstance(source, bytes) else read_header(source)
    if has_dicom_preamble(head):
        return True
    return any(_parses_as_elements(head, explicit, order) for explicit, order in _ENCODINGS)


def sniff_format(path: str | Path) -> str:
    """'dicom', 'png', 'jpeg', 'tiff' or 'bmp' from the file's first bytes (DICOM checked first)."""
    head = read_header(path)
    if is_dicom(head):
        return "dicom"
    for magic, name in _RASTER_MAGIC:
        if head.startswith(magic):
            return name
    raise InputFileError(path, "not a supported image (expected PNG, JPEG, TIFF, BMP or DICOM content)")
