"""Turn any upload or source file into 8-bit RGB pixels, or say exactly why it cannot be.

Shared by the TFDS builder (which converts odd sources once, at build time) and the edge
runtime (which meets the same odd files from users), so a grayscale, CMYK, 16-bit or
alpha image becomes the same pixels in training data and on the device.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from dfd import spec


class ImageError(ValueError):
    """A file that is not a usable image; the message says why, for the user to read."""


class EmptyImageError(ImageError):
    """No bytes at all."""


class NotAnImageError(ImageError):
    """Bytes no image decoder recognises, whatever the file is called."""


class TooManyPixelsError(ImageError):
    """A header announcing more pixels than allowed: a decompression bomb or a huge scan."""


class CorruptImageError(ImageError):
    """An image format that fails while decoding: truncated or damaged."""


def open_image(data: bytes, max_pixels: int = spec.MAX_IMAGE_PIXELS) -> Image.Image:
    """Opens and fully decodes `data`, refusing empties, non-images, bombs and truncations.

    The pixel count is checked from the header before any pixel is decoded, so a
    20000x20000 bomb costs nothing. The type is judged by decoding, never by a file name.
    """
    if not data:
        raise EmptyImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise TooManyPixelsError(
                    f"image is {width}x{height} = {width * height} pixels, over the "
                    f"{max_pixels} pixel limit (decompression bomb guard)")
            if width < 1 or height < 1:
                raise CorruptImageError(f"image has no pixels ({width}x{height})")
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise NotAnImageError("not an image (no decoder recognises its bytes)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TooManyPixelsError(f"decompression bomb refused: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptImageError(f"corrupt or truncated image: {e}") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any decoded mode to 8-bit RGB the way TensorFlow's decoders would.

    Alpha is dropped rather than composited, as `tf.image.decode_image(channels=3)` does,
    so the SavedModel's bytes signature and this runtime agree on RGBA uploads. 16-bit
    grayscale keeps its high byte (PNG's own strip-16 rule) instead of clipping to white.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.asarray(image, dtype=np.int64)
        gray = np.clip(wide >> 8, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "F":
        flat = np.asarray(image, dtype=np.float64)
        hi = float(flat.max()) or 1.0
        gray = np.clip(np.round(flat / hi * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA") if image.mode != "RGBA" else image
        return image.convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def decode_rgb(data: bytes, max_pixels: int = spec.MAX_IMAGE_PIXELS) -> np.ndarray:
    """Bytes to an (H, W, 3) uint8 array, or ImageError saying why not."""
    image = open_image(data, max_pixels)
    try:
        return np.asarray(to_rgb(image), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise CorruptImageError(f"cannot convert {image.mode} image to RGB: {e}") from None
