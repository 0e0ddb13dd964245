"""Encapsulated DICOM frames (JPEG, JPEG-LS, JPEG 2000): what their own headers say.

A decoder allocates by the codestream's header, not by the DICOM Rows/Columns, so the two are
compared before decoding (a damaged or hostile frame could otherwise claim gigapixels).

One known encoder defect is repaired: a JPEG 2000 codestream with a COM (comment) marker
segment between the last tile's data and the EOC marker, which openjpeg rejects. The pixels
are intact; dropping that segment makes the codestream valid (pydicom issue 966, where the
maintainers diagnosed it; the segment reads "PADDING").
"""

from __future__ import annotations

import struct

_J2K_START = b"\xff\x4f\xff\x51"  # SOC then SIZ
_JPEG_START = b"\xff\xd8"
# SOF0-SOF15 without DHT (C4), JPG (C8), DAC (CC); SOF55 (F7) is JPEG-LS
_SOF_MARKERS = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7})
_STANDALONE_MARKERS = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
_J2K_EOC = b"\xff\xd9"
_J2K_COM = b"\xff\x64"


def codestream_size(frame: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) from a JPEG / JPEG-LS SOF or a JPEG 2000 SIZ header;
    None when the header cannot be found (the decoder then reports the damage)."""
    try:
        if frame.startswith(_J2K_START):
            # SIZ: Lsiz Rsiz (2 bytes each), Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz (4 each), Csiz
            xsiz, ysiz, x_offset, y_offset = struct.unpack_from(">IIII", frame, 8)
            (components,) = struct.unpack_from(">H", frame, 40)
            return ysiz - y_offset, xsiz - x_offset, components
        if frame.startswith(_JPEG_START):
            offset = 2
            while offset + 4 <= len(frame):
                if frame[offset] != 0xFF:
                    return None
                marker = frame[offset + 1]
                if marker == 0xFF or marker in _STANDALONE_MARKERS:
                    offset += 1 if marker == 0xFF else 2
                    continue
                if marker in _SOF_MARKERS:
                    rows, columns, components = struct.unpack_from(">HHB", frame, offset + 5)
                    return rows, columns, components
                offset += 2 + struct.unpack_from(">H", frame, offset + 2)[0]
    except struct.error:
        return None
    return None


def without_trailing_comment(frame: bytes) -> bytes | None:
    """The JPEG 2000 codestream without a COM segment that ends right at its EOC marker, or
    None when it has none."""
    end = frame.rstrip(b"\x00")  # fragments are padded to an even length
    if not end.endswith(_J2K_EOC):
        return None
    search_from = max(0, len(end) - 2 - 0xFFFF - 2)
    position = end.rfind(_J2K_COM, search_from)
    while position != -1:
        (length,) = struct.unpack_from(">H", end, position + 2)
        if position + 2 + length == len(end) - 2:
            return end[:position] + _J2K_EOC
        position = end.rfind(_J2K_COM, search_from, position)
    return None
