"""Turn untrusted bytes into a decoded image, or into that file's own error saying why not.

Pillow recognises dozens of formats and some of their decoders are a liability on a
stranger's file: EPS runs Ghostscript (after writing a temporary file), and truncated
QOI, DDS, SPIDER or TIFF files raise IndexError, NotImplementedError or TypeError, which
no caller expects. So Pillow is only ever handed the few formats the detector needs, the
header's dimensions are judged before a single pixel is decoded, and whatever a decoder
raises becomes an `ImageError` of this file, never an exception that stops the others.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from dfd.common import spec
from dfd.imaging.jpeg_scans import count_scans

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
"""Pillow plugins allowed to read a file: what cameras, generators and browsers produce.
TIFF (libtiff's long CVE history), EPS (Ghostscript) and the rest are never tried."""

MAX_ASPECT_RATIO = 20
"""Longest side over shortest side. The model sees the centred square, so a 1 x 39,999,999
strip has nothing to show it, and such strips cost a pointer per row in the decoder."""

MAX_DECODED_BYTES = 256 * 1024 * 1024
"""Memory one decode may take, estimated from the header before decoding: with the pixel
limit alone a 40 MP WebP costs over 600 MB (libwebp's canvas, its output and Pillow's
copy), and a 40 MP progressive JPEG without chroma subsampling ~400 MB (its coefficient
buffer, `jpeg_coefficient_bytes`), which is no longer a photo upload's business."""

DECODER_BYTES_PER_PIXEL = {"WEBP": 16}
"""Measured peak bytes per pixel where a decoder keeps more than the image itself
(the worst-case uploads of python -m benchmarks.fuzz); other formats cost Pillow's
storage of their mode."""

MAX_JPEG_SCANS = 100
"""Scans in one JPEG. libjpeg's progressive scripts use 6 (gray) or 10 (color) and tuned
encoders a few dozen at most; hundreds exist only to burn the decoder's time."""

MAX_SCAN_PIXELS = 16 * spec.MAX_IMAGE_PIXELS
"""Scans times pixels, libjpeg's work for a progressive JPEG: each scan visits every
block. Sixteen scans of the largest image allowed is more than any encoder's script, so
no photo is refused, and no file costs more time than such a photo does."""

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Bytes read from one file or upload, the same for the CLI and the server."""


class ImageError(ValueError):
    """A file that is not a usable image; the message says why, for the user to read."""


class EmptyImageError(ImageError):
    """No bytes at all."""


class NotAnImageError(ImageError):
    """Bytes none of the allowed decoders recognises, whatever the file is called."""


class TooLargeError(ImageError):
    """More than the gate lets a single file cost: bytes, pixels or metadata."""


class TooManyPixelsError(TooLargeError):
    """A header announcing more pixels than allowed: a decompression bomb or a huge scan."""


class DecodingTimeError(TooLargeError):
    """A file whose decoding would take far longer than any photo's (a scan bomb)."""


class MetadataBombError(TooLargeError):
    """Compressed text or ICC chunks that would inflate past Pillow's limits."""


class BadDimensionsError(ImageError):
    """A header with no pixels, or a strip too thin for a centred square to mean anything."""


class CorruptImageError(ImageError):
    """An allowed format that fails while decoding: truncated or damaged."""


_METADATA_LIMITS = ("Decompressed data too large", "Too much memory used in text chunks")
"""Pillow's PNG plugin raises a plain ValueError with these words for text/ICC bombs."""


def check_dimensions(width: int, height: int, max_pixels: int = spec.MAX_IMAGE_PIXELS):
    """Raises the ImageError a header of this size deserves, before anything is decoded."""
    if width < 1 or height < 1:
        raise BadDimensionsError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"image is {width}x{height} = {width * height} pixels, over the "
            f"{max_pixels} pixel limit (decompression bomb guard)")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise BadDimensionsError(
            f"image is {width}x{height}, more elongated than the 1:{MAX_ASPECT_RATIO} "
            f"aspect ratio limit")


def storage_bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow stores per pixel: 1 for L/P/1, 2 for 16-bit, 4 for everything else."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def jpeg_coefficient_bytes(image: Image.Image, scans: int) -> int:
    """Bytes of DCT coefficients libjpeg holds while decoding a JPEG of several scans.

    A single-scan (baseline) JPEG is decoded a row of blocks at a time. One of several
    scans (progressive, or sequential with its components in separate scans) can only be
    turned into pixels after the last scan, so libjpeg keeps every coefficient of the
    image: 64 of 2 bytes per 8x8 block of every component, 2 bytes per luma pixel, and 6
    per pixel for an unsubsampled colour file, more than the decoded RGB itself.
    """
    layers = getattr(image, "layer", None)
    if scans <= 1 or not layers:
        return 0
    h_max = max(h for _, h, _, _ in layers)
    v_max = max(v for _, _, v, _ in layers)
    mcus = -(-image.size[0] // (8 * h_max)) * -(-image.size[1] // (8 * v_max))
    return mcus * sum(h * v for _, h, v, _ in layers) * 64 * 2


def check_decoding_cost(image: Image.Image, max_bytes: int = MAX_DECODED_BYTES,
                        scans: int = 1):
    """Refuses an image whose decoder would take more than `max_bytes`, from its header
    (and, for a JPEG, its number of scans)."""
    width, height = image.size
    per_pixel = DECODER_BYTES_PER_PIXEL.get(image.format,
                                            storage_bytes_per_pixel(image.mode))
    coefficients = jpeg_coefficient_bytes(image, scans) if image.format == "JPEG" else 0
    cost = width * height * per_pixel + coefficients
    if cost > max_bytes:
        held = f" ({coefficients / 2**20:.0f} MB of it DCT coefficients of its {scans} scans)"
        raise TooManyPixelsError(
            f"{image.format} image of {width}x{height} would take {cost / 2**20:.0f} MB to "
            f"decode{held if coefficients else ''}, over the {max_bytes / 2**20:.0f} MB "
            f"limit (decompression bomb guard)")


def check_scans(data: bytes, width: int, height: int) -> int:
    """The JPEG's number of scans; refuses one whose scans would cost libjpeg more time
    than the largest real photo."""
    scans = count_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise DecodingTimeError(f"JPEG with {scans} scans, over the {MAX_JPEG_SCANS} scan "
                                f"limit (decoding time guard)")
    if scans * width * height > MAX_SCAN_PIXELS:
        raise DecodingTimeError(
            f"JPEG of {width}x{height} with {scans} scans = {scans * width * height} scanned "
            f"pixels, over the {MAX_SCAN_PIXELS} limit (decoding time guard)")
    return scans


def open_image(data: bytes, max_pixels: int = spec.MAX_IMAGE_PIXELS) -> Image.Image:
    """Opens and fully decodes `data` with an allowed decoder, or raises ImageError.

    The type is judged by the bytes, never by a file name; the format list is Pillow's
    own `formats=` argument, so nothing else is even tried.
    """
    if not data:
        raise EmptyImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            check_dimensions(*image.size, max_pixels=max_pixels)
            scans = check_scans(data, *image.size) if image.format == "JPEG" else 1
            check_decoding_cost(image, scans=scans)
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise NotAnImageError(
            f"not an image in an accepted format ({', '.join(FORMATS)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TooManyPixelsError(f"decompression bomb refused: {e}") from None
    except MemoryError:
        raise TooLargeError("not enough memory to decode this image") from None
    except ValueError as e:
        if any(words.lower() in str(e).lower() for words in _METADATA_LIMITS):
            raise MetadataBombError(f"metadata too large: {e}") from None
        raise CorruptImageError(f"corrupt or truncated image: {e}") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure is this file's, not ours
        raise CorruptImageError(
            f"corrupt or truncated image: {type(e).__name__}: {e}") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any decoded mode to 8-bit RGB the way TensorFlow's decoders would.

    Alpha is dropped rather than composited, as `tf.image.decode_image(channels=3)` does,
    so the SavedModel's bytes signature and this runtime agree on RGBA uploads. 16-bit
    grayscale keeps its high byte (PNG's own strip-16 rule) instead of clipping to white.
    Every branch is per pixel, so a caller may convert only the pixels it samples.
    """
    if image.mode == "RGB":
        return image
    try:
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
            wide = np.asarray(image)
            high = (wide >> 8) if wide.dtype.kind == "u" else np.clip(wide >> 8, 0, 255)
            return Image.fromarray(high.astype(np.uint8)).convert("RGB")
        if image.mode in ("LA", "PA"):
            image = image.convert("RGBA")
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        return image.convert("RGB")
    except MemoryError:
        raise TooLargeError("not enough memory to convert this image to RGB") from None
    except Exception as e:  # noqa: BLE001
        raise CorruptImageError(f"cannot convert {image.mode} image to RGB: {e}") from None


def decode(data: bytes, max_pixels: int = spec.MAX_IMAGE_PIXELS) -> Image.Image:
    """Bytes to a decoded 8-bit RGB Pillow image, or ImageError saying why not."""
    return to_rgb(open_image(data, max_pixels))


def decode_rgb(data: bytes, max_pixels: int = spec.MAX_IMAGE_PIXELS):
    """Bytes to an (H, W, 3) uint8 array, or ImageError saying why not."""
    return np.asarray(decode(data, max_pixels), dtype=np.uint8)
