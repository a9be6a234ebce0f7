"""The decoding gate on each hostile class, without a model: right error, no side effects."""

import io
import os
import subprocess
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

from conftest import encode, jpeg_bytes, textured_rgb
from support import hostile
from dfd.imaging import gate

CASES = hostile.cases()
STATUS_CLASS = {400: gate.EmptyImageError, 413: gate.TooLargeError, 415: gate.NotAnImageError,
                422: (gate.CorruptImageError, gate.BadDimensionsError)}


@pytest.fixture
def no_side_effects(tmp_path, monkeypatch):
    """Any subprocess (Ghostscript) or temporary file fails the test outright."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the gate tried to run or write something: {args[:1]}")
    monkeypatch.setattr(subprocess, "Popen", refuse)
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.chdir(tmp_path)
    yield
    assert os.listdir(tmp_path) == []


def test_every_surface_class_is_crafted():
    names = {case.name for case in CASES}
    assert {"eps", "strip_png_1x39999999", "png_ztxt_bomb", "png_iccp_bomb",
            "png_text_memory_bomb", "truncated_qoi", "truncated_dds", "truncated_spider",
            "truncated_tiff", "jpeg_scan_bomb_9mp", "jpeg_scan_bomb_5000_scans"} <= names


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_bytes_become_this_files_error(case, no_side_effects):
    start = time.perf_counter()
    with pytest.raises(gate.ImageError) as raised:
        gate.decode(case.data)
    assert isinstance(raised.value, STATUS_CLASS[case.status])
    assert case.words in str(raised.value).lower()
    assert time.perf_counter() - start < 30, "a hostile file must not take long (hang guard)"


def test_only_allowed_formats_reach_a_decoder():
    tiff = encode(textured_rgb(32, 32), "TIFF")
    with pytest.raises(gate.NotAnImageError, match="JPEG, PNG, WEBP, BMP, GIF"):
        gate.decode(tiff)
    for fmt in gate.FORMATS:
        assert gate.decode(encode(textured_rgb(32, 32), fmt)).size == (32, 32)


def test_dimensions_are_refused_before_any_pixel_is_decoded(monkeypatch):
    crafted = (hostile.strip_png(1, 39_999_999), hostile.jpeg_claiming_size(7000, 7000))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded pixels"))
    for data in crafted:
        with pytest.raises(gate.ImageError):
            gate.open_image(data)


def test_aspect_ratio_limit_is_inclusive():
    gate.check_dimensions(20, 1)
    with pytest.raises(gate.BadDimensionsError, match="aspect ratio"):
        gate.check_dimensions(21, 1)


@pytest.mark.parametrize("raised", [IndexError("index out of range"), TypeError("bad"),
                                    NotImplementedError("no"), AttributeError("x"),
                                    RuntimeError("y"), SyntaxError("z")])
def test_any_decoder_exception_becomes_a_corrupt_image_error(monkeypatch, raised):
    def fail(self):
        raise raised
    data = jpeg_bytes(16, 16)
    monkeypatch.setattr(Image.Image, "load", fail)
    with pytest.raises(gate.CorruptImageError, match=type(raised).__name__):
        gate.decode(data)


def test_modes_convert_like_before():
    gray16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    image = gate.decode(encode(Image.fromarray(gray16), "PNG"))
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image)[..., 0], (gray16 >> 8).astype(np.uint8))
    rgba = np.dstack([textured_rgb(8, 8), np.full((8, 8), 10, np.uint8)])
    np.testing.assert_array_equal(gate.decode_rgb(encode(rgba, "PNG")), rgba[..., :3])


def test_decoder_memory_is_estimated_from_the_header():
    side = 4200  # 17.6 MP: inside the pixel limit, but libwebp would take ~280 MB for it
    big_webp = encode(Image.new("RGB", (side, side), 90), "WEBP", quality=10)
    with pytest.raises(gate.TooManyPixelsError, match="WEBP image of 4200x4200"):
        gate.open_image(big_webp)
    assert gate.open_image(encode(Image.new("RGB", (4000, 4000), 90), "WEBP")).size == (
        4000, 4000)


@pytest.mark.parametrize("name", ["jpeg_scan_bomb_9mp", "jpeg_scan_bomb_5000_scans"])
def test_scan_bombs_are_refused_before_any_scan_is_decoded(monkeypatch, name):
    """Seconds of libjpeg time each (minutes at 40 MP) for a few dozen KB: refused from
    the markers, so the decoder never starts."""
    data = next(case.data for case in CASES if case.name == name)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded pixels"))
    with pytest.raises(gate.DecodingTimeError, match="decoding time guard"):
        gate.open_image(data)


def test_real_progressive_jpegs_pass_and_only_real_scans_count():
    from dfd.imaging.jpeg_scans import count_scans
    pixels = textured_rgb(64, 64)
    progressive = encode(pixels, "JPEG", progressive=True)
    assert count_scans(progressive) == 10 and count_scans(encode(pixels, "JPEG")) == 1
    assert gate.decode(progressive).size == (64, 64)
    # Start-of-scan bytes inside metadata (an EXIF thumbnail, say) are not scans.
    noisy = encode(pixels, "JPEG", progressive=True, icc_profile=b"\xff\xda" * 5000)
    assert count_scans(noisy) == 10 and gate.decode(noisy).size == (64, 64)
    # The largest image allowed still gets an ordinary progressive script's 16 scans.
    side = int((gate.MAX_SCAN_PIXELS // 16) ** 0.5)
    gate.check_scans(hostile.progressive_scan_bomb(side, 10), side, side)


@pytest.mark.parametrize("options,per_pixel", [
    ({"progressive": True, "subsampling": 0}, 6),   # 3 full-size components, 2 bytes each
    ({"progressive": True, "subsampling": 2}, 3),   # 4:2:0: luma 2, each chroma 0.5
    ({"subsampling": 0}, 0),                        # one scan: decoded a row at a time
])
def test_a_progressive_jpegs_coefficient_buffer_counts_towards_its_memory(options, per_pixel):
    data = encode(textured_rgb(64, 48), "JPEG", **options)
    image = Image.open(io.BytesIO(data))
    scans = gate.check_scans(data, 64, 48)
    assert gate.jpeg_coefficient_bytes(image, scans) == 64 * 48 * per_pixel
    # The decode fits a budget that holds image and coefficients, and not one byte less.
    needed = 64 * 48 * 4 + 64 * 48 * per_pixel
    gate.check_decoding_cost(image, max_bytes=needed, scans=scans)
    with pytest.raises(gate.TooManyPixelsError, match="decompression bomb guard"):
        gate.check_decoding_cost(image, max_bytes=needed - 1, scans=scans)


def test_the_largest_progressive_jpeg_without_subsampling_is_refused_from_its_header(
        monkeypatch):
    """40 MP progressive at 4:4:4 took ~400 MB in libjpeg (coefficients 6 bytes a pixel,
    RGB 4): over the gate's 256 MB, so it is refused before a scan is decoded; a baseline
    JPEG of the same size is not (BUILD_NOTES "The largest image the gate allows")."""
    side = 6000
    flat = Image.new("RGB", (side, side), (90, 120, 150))
    progressive, baseline = (encode(flat, "JPEG", quality=20, subsampling=0, **kw)
                             for kw in ({"progressive": True}, {}))
    monkeypatch.setattr(Image.Image, "load", lambda self: None)  # never decode 36 MP here
    with pytest.raises(gate.TooManyPixelsError, match=r"DCT coefficients of its \d+ scans"):
        gate.open_image(progressive)
    assert gate.open_image(baseline).size == (side, side)
