"""One test per kind of bad source file: each is converted or skipped, never fatal."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dfd.builders.deepfake_real_images import source_files
from conftest import encode, jpeg_bytes, jpeg_claiming_size, textured_rgb
from dfd.common import spec
from dfd.imaging import gate as imageio

LIMIT = spec.MAX_IMAGE_PIXELS


def decoded(vetted):
    return np.asarray(Image.open(io.BytesIO(vetted.encoded)))


def test_rgb_jpeg_is_kept_byte_for_byte():
    data = jpeg_bytes()
    vetted = source_files.vet(data, LIMIT)
    assert vetted.action == "kept"
    assert vetted.encoded is data


def test_zero_byte_file_is_skipped():
    vetted = source_files.vet(b"", LIMIT)
    assert (vetted.action, vetted.encoded) == ("skipped", None)
    assert "empty" in vetted.reason


def test_truncated_jpeg_is_skipped():
    data = jpeg_bytes(64, 64)
    vetted = source_files.vet(data[: len(data) // 2], LIMIT)
    assert vetted.action == "skipped"
    assert "truncated" in vetted.reason


def test_text_file_named_jpg_is_skipped():
    vetted = source_files.vet(b"<html>404 not found</html>\n", LIMIT)
    assert vetted.action == "skipped"
    assert "not an image" in vetted.reason


def test_png_with_alpha_is_converted_keeping_rgb():
    rgba = np.dstack([textured_rgb(20, 30), np.full((20, 30), 40, np.uint8)])
    vetted = source_files.vet(encode(rgba, "PNG", "RGBA"), LIMIT)
    assert vetted.action == "converted"
    np.testing.assert_array_equal(decoded(vetted), rgba[..., :3])


def test_grayscale_jpeg_is_converted_to_three_equal_channels():
    gray = textured_rgb(24, 24)[..., 0]
    vetted = source_files.vet(encode(gray, "JPEG", "L", quality=95), LIMIT)
    assert vetted.action == "converted"
    pixels = decoded(vetted)
    assert pixels.shape == (24, 24, 3)
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.fromarray(textured_rgb(24, 24)).convert("CMYK")
    vetted = source_files.vet(encode(cmyk, "JPEG", quality=95), LIMIT)
    assert vetted.action == "converted"
    assert decoded(vetted).shape == (24, 24, 3)


def test_16_bit_png_keeps_its_high_byte():
    wide = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 250)
    data = encode(Image.fromarray(wide), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    vetted = source_files.vet(data, LIMIT)
    assert vetted.action == "converted"
    np.testing.assert_array_equal(decoded(vetted)[..., 1], (wide >> 8).astype(np.uint8))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; the guard must refuse it before decoding."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("bomb", [_png_header_only, jpeg_claiming_size], ids=["png", "jpeg"])
def test_20000_by_20000_image_is_refused_before_decoding(bomb):
    vetted = source_files.vet(bomb(20000, 20000), LIMIT)
    assert vetted.action == "skipped"
    assert "400000000 pixels" in vetted.reason and "limit" in vetted.reason


def test_unreadable_file_is_skipped(tmp_path):
    root = tmp_path / "Dataset"
    (root / "Train" / "Real").mkdir(parents=True)
    (root / "Train" / "Real" / "good.jpg").write_bytes(jpeg_bytes())
    missing = root / "Train" / "Real" / "dangling.jpg"
    missing.symlink_to(tmp_path / "nowhere.jpg")
    tree = source_files.FolderTree(str(root))
    fates = {name: v for _, name, v in source_files.iter_vetted(tree, "", "train", LIMIT)}
    assert fates["good.jpg"].action == "kept"
    # A dangling link is not a regular file: never opened, counted as not used.
    assert (fates["dangling.jpg"].action, fates["dangling.jpg"].reason) == (
        "ignored", "not a regular file")


def test_image_error_names_the_reason_for_users():
    with pytest.raises(imageio.ImageError, match="not an image"):
        imageio.decode_rgb(b"GIF89a-but-not-really")


@pytest.mark.parametrize("layout", ["dataset", "parent", "nested"])
def test_dataset_root_is_found_in_each_download_shape(tmp_path, layout):
    base = {"dataset": tmp_path, "parent": tmp_path / "x", "nested": tmp_path / "x" / "y"}[layout]
    folder = base / "Dataset" if layout != "dataset" else tmp_path
    (folder / "Train" / "fake").mkdir(parents=True)
    found = source_files.find_dataset_root(str(tmp_path))
    assert found == str(folder)
