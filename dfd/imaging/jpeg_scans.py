"""Counting a JPEG's scans from its markers, before libjpeg decodes any of them.

A progressive JPEG is decoded scan by scan, and every scan touches every block of the
image, even one whose entropy data is a single end-of-band run a few bytes long. So a
file of a few KB holding hundreds of scans of a large image keeps libjpeg busy for
minutes while staying inside every size and pixel limit (libjpeg-turbo's "LJT-01-003":
valid JPEG, no warning, nothing for the decoder to refuse). Pillow offers no scan limit,
so the gate counts the start-of-scan markers itself and judges their cost up front.
"""

from __future__ import annotations

import struct

_STANDALONE = {0x01, *range(0xD0, 0xD9)}
"""Markers without a length field: TEM, RST0-7 and SOI."""


def count_scans(data: bytes) -> int:
    """Start-of-scan segments in the JPEG `data`, walking its marker segments by their
    lengths (so bytes inside EXIF, ICC or a thumbnail never count) and its entropy-coded
    data by its markers. Stops quietly at the first malformed spot: the decoder will name
    that damage itself, and the scans before it are what it would decode."""
    scans = 0
    i = 2  # after SOI
    size = len(data)
    while i + 4 <= size:
        if data[i] != 0xFF:
            return scans
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:  # EOI
            return scans
        if marker in _STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack_from(">H", data, i + 2)
        if length < 2:
            return scans
        i += 2 + length
        if marker != 0xDA:
            continue
        scans += 1
        while True:  # entropy-coded data ends at the first marker other than FF00/RSTn
            i = data.find(b"\xff", i)
            if i < 0 or i + 1 >= size:
                return scans
            following = data[i + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                i += 2
                continue
            break
    return scans
