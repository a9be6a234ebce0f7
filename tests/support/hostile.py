"""Hostile inputs crafted in memory, one per class of attack the gate must refuse.

Shared by the tests (tests/imaging/test_gate.py, the CLI's, the server's and the protocol's
tests run each) and by `python -m benchmarks.fuzz`, so both judge the same files. Each is a
few hundred bytes to a few hundred KB: no binary blobs in the repository.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from dfd.common import spec
from dfd.imaging import gate


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    status: int
    """What the server must answer; the CLI and the builder must name the same failure."""
    words: str
    """Words the error message must contain (lower case)."""


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """`image` as a file of format `fmt` (Pillow's save parameters)."""
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def picture(mode: str = "RGB", size: int = 64) -> Image.Image:
    """The same noisy picture on every call: what a valid upload of each format holds."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def png_with_chunks(extra: list[bytes], width: int = 8, height: int = 8) -> bytes:
    """A valid gray PNG with `extra` chunks between IHDR and IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\0" + bytes(width) for _ in range(height)))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(extra)
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def strip_png(width: int, height: int) -> bytes:
    """A gray PNG of width x height zeros: a 1 x 39,999,999 one is ~77 KB."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" + bytes(width)
    body = b"".join(compressor.compress(row * min(100_000, height - done))
                    for done in range(0, height, 100_000)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body)
            + png_chunk(b"IEND", b""))


def ztxt_bomb(inflated: int = 4 * 1024 * 1024) -> bytes:
    """One zTXt chunk inflating past Pillow's 1 MB text chunk limit."""
    return png_with_chunks([png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(
        bytes(inflated), 9))])


def iccp_bomb(inflated: int = 4 * 1024 * 1024) -> bytes:
    """An ICC profile chunk inflating past the same limit."""
    return png_with_chunks([png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(bytes(inflated), 9))])


def text_memory_bomb(chunks: int = 70) -> bytes:
    """Many zTXt chunks, each just under 1 MB inflated, together over Pillow's 64 MB."""
    one = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(bytes(1024 * 1024 - 64), 9))
    return png_with_chunks([one] * chunks)


def jpeg_claiming_size(width: int, height: int) -> bytes:
    data = bytearray(encode(picture(size=16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def progressive_scan_bomb(side: int, extra_scans: int) -> bytes:
    """A flat gray progressive JPEG whose last scan is repeated `extra_scans` times: each
    copy is a few bytes of end-of-band run, yet libjpeg visits every block for it (4 MP
    and 200 copies: 18 KB and 5 s of decoding on a loaded 2-core machine)."""
    data = encode(Image.new("L", (side, side), 128), "JPEG", progressive=True, quality=50)
    last = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * extra_scans + data[end:]


def _written(fmt: str, mode: str = "RGB") -> bytes | None:
    try:
        return encode(picture(mode), fmt)
    except (KeyError, OSError, ValueError):  # this Pillow build cannot write it
        return None


@functools.cache
def _cases() -> tuple[Case, ...]:
    return tuple(_craft())


def cases() -> list[Case]:
    """Every hostile class (crafted once per process, which takes seconds); formats this
    Pillow cannot write are left out."""
    return list(_cases())


def _craft() -> list[Case]:
    good_jpeg = encode(picture(), "JPEG", quality=90)
    found = [
        Case("empty", b"", 400, "empty"),
        Case("not_an_image", b"%PDF-1.7\n" + b"x" * 200, 415, "not an image"),
        Case("truncated_jpeg", good_jpeg[:300], 422, "truncated"),
        Case("jpeg_bomb_header", jpeg_claiming_size(40000, 40000), 413, "decompression bomb"),
        Case("eps", encode(picture(), "EPS"), 415, "not an image"),
        Case("strip_png_1x39999999", strip_png(1, 39_999_999), 422, "aspect ratio"),
        Case("png_ztxt_bomb", ztxt_bomb(), 413, "metadata too large"),
        Case("png_iccp_bomb", iccp_bomb(), 413, "metadata too large"),
        Case("png_text_memory_bomb", text_memory_bomb(), 413, "metadata too large"),
        Case("jpeg_scan_bomb_9mp", progressive_scan_bomb(3000, 74), 413, "scanned pixels"),
        Case("jpeg_scan_bomb_5000_scans", progressive_scan_bomb(256, 5000), 413, "scan limit"),
    ]
    for fmt, mode in (("QOI", "RGB"), ("AVIF", "RGB"), ("DDS", "RGB"), ("SPIDER", "F"),
                      ("TIFF", "RGB")):
        data = _written(fmt, mode)
        if data is not None:  # cut in the pixels, and cut inside the header (QOI: IndexError)
            found.append(Case(f"truncated_{fmt.lower()}", data[: len(data) * 2 // 3], 415,
                              "not an image"))
            found.append(Case(f"header_only_{fmt.lower()}", data[:13], 415, "not an image"))
            damaged = _damaged_payload(fmt, data)
            if damaged is not None:
                found.append(Case(f"damaged_{fmt.lower()}", damaged, 415, "not an image"))
    return found


def _damaged_payload(fmt: str, data: bytes) -> bytes | None:
    """A whole file zeroed past its first fields (AVIF: the mdat payload; DDS: from the
    pixel format on): what reached the AVIF decoder (RuntimeError) and the DDS decoder
    (NotImplementedError) uncaught before the gate. None where zeros are just black."""
    if fmt == "AVIF":
        start = data.index(b"mdat") + 4
    elif fmt == "DDS":
        start = 64
    else:
        return None
    return data[:start] + bytes(len(data) - start)


def cpu_bombs(side: int = 6324) -> dict[str, bytes]:
    """Scan bombs at the largest size allowed (40 MP): each file is under 200 KB and each
    would keep libjpeg busy for minutes; the gate must refuse both from their markers. Kept
    out of `cases()` because encoding 40 MP takes seconds; the fuzz script sends them."""
    return {"jpeg_scan_bomb_40mp_66_scans": progressive_scan_bomb(side, 60),
            "jpeg_scan_bomb_40mp_1006_scans": progressive_scan_bomb(side, 1000)}


def largest_progressive_side(block: int, blocks_per_mcu: int) -> int:
    """Side of the largest square progressive RGB JPEG the gate lets through: decoded RGB
    (4 bytes a pixel) plus every DCT coefficient (128 bytes a block) within
    gate.MAX_DECODED_BYTES; `block` is the MCU's side (8: 4:4:4, 16: 4:2:0)."""
    mcus = 1
    while True:
        side = (mcus + 1) * block
        cost = side * side * 4 + (mcus + 1) ** 2 * blocks_per_mcu * 128
        if cost > gate.MAX_DECODED_BYTES or side * side > spec.MAX_IMAGE_PIXELS:
            return mcus * block
        mcus += 1


def worst_images(side: int = 6324) -> dict[str, bytes]:
    """Allowed images at the gate's limits (side x side ~ 40 MP; WebP at its decoder
    memory limit; progressive JPEGs at theirs, set by their coefficient buffers), each
    under 1 MB: the most one upload may make the gate decode."""
    full = largest_progressive_side(8, 3)
    halved = largest_progressive_side(16, 6)
    gray = Image.new("L", (side, side), 128)
    palette = gray.convert("P")
    palette.info["transparency"] = 0
    wide = Image.fromarray(np.full((side, side), 40000, dtype=np.uint16))
    return {
        "jpeg_40mp": encode(gray.convert("RGB"), "JPEG", quality=50),
        "png_palette_alpha_40mp": encode(palette, "PNG", transparency=0),
        "png_gray16_40mp": encode(wide, "PNG"),
        "png_rgba_40mp": encode(gray.convert("RGBA"), "PNG"),
        "gif_40mp": encode(gray.convert("P"), "GIF"),
        "webp_16mp": encode(Image.new("RGB", (4096, 4096), 128), "WEBP", quality=10),
        f"jpeg_progressive_444_{full * full // 10**6}mp": encode(
            Image.new("RGB", (full, full), (90, 120, 150)), "JPEG", quality=50,
            progressive=True, subsampling=0),
        f"jpeg_progressive_420_{halved * halved // 10**6}mp": encode(
            Image.new("RGB", (halved, halved), (90, 120, 150)), "JPEG", quality=50,
            progressive=True, subsampling=2),
    }
