"""The preprocessing contract of `dfd.common.spec` in numpy, for devices without TensorFlow.

The arithmetic mirrors TensorFlow's ResizeBilinear kernel with half-pixel centres step by
step in float32 (same source coordinates, same clamping, same order of the lerps), so the
rounded uint8 result matches `dfd.train.pipeline.preprocess_image` bit for bit: on every image
`tests/lite/test_preprocess_parity.py` tries, the largest difference is 0.

Bilinear resizing without antialias reads at most two source rows and two source columns
per output row and column, so only those samples are gathered (from a uint8 array, or
straight from a decoded Pillow image in whatever mode it decoded to, converting bounded
strips around those rows to RGB) before anything becomes float32: beyond the decoder's own
buffer, the memory is bounded by `GATHER_BYTES` and the output size, not by the input's,
whatever shape the upload has.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dfd.imaging.gate import to_rgb


def center_square_box(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest centred square, as `dfd.common.spec` crops it."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def _bilinear_taps(in_size: int, out_size: int):
    """Lower/upper source indices and lerp weights along one axis, as TensorFlow computes them."""
    scale = np.float32(in_size) / np.float32(out_size)
    source = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(source)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(source).astype(np.int64), in_size - 1)
    lerp = (source - floor).astype(np.float32)
    return lower, upper, lerp


GATHER_BYTES = 1 << 22
"""Most RGB bytes read from a Pillow image at once: a strip of consecutive source rows,
only as wide as the sampled columns, is cropped and converted in one call. Small enough that
a 40 MP upload costs no full-size copy; large enough that a face crop of a 1 MP photo is one
or two strips, not one Pillow call per source row (~150 calls a face; the 5-face photo
took 22 % less time without them: BUILD_NOTES.md "The 5-face photo after the strip reads")."""


def gather(source: np.ndarray | Image.Image, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """source[rows][:, cols] as uint8 RGB (len(rows), len(cols), 3); `rows` and `cols`
    ascending, as `np.unique` gives them.

    A Pillow image is read in strips of consecutive rows spanning only the sampled columns,
    at most GATHER_BYTES of RGB each, and only the strip is converted to RGB (the conversion
    is per pixel, so the pixels equal a whole-image conversion's); no full-size array or RGB
    copy is ever made.
    """
    if isinstance(source, np.ndarray):
        return source[np.ix_(rows, cols)]
    out = np.empty((len(rows), len(cols), 3), dtype=np.uint8)
    if not len(rows) or not len(cols):
        return out
    left, right = int(cols[0]), int(cols[-1]) + 1
    strip_rows = max(1, GATHER_BYTES // (3 * (right - left)))
    local_cols = cols - left
    start = 0
    while start < len(rows):
        first = int(rows[start])
        stop = int(np.searchsorted(rows, first + strip_rows, side="left"))
        last = int(rows[stop - 1])
        strip = np.asarray(to_rgb(source.crop((left, first, right, last + 1))), np.uint8)
        out[start:stop] = strip[rows[start:stop] - first][:, local_cols]
        start = stop
    return out


def resize_bilinear(source: np.ndarray | Image.Image, box: tuple[int, int, int],
                    size: int) -> np.ndarray:
    """The square `box` (top, left, side) of an RGB image to (size, size, 3) float32,
    TensorFlow's half-pixel bilinear."""
    top, left, side = box
    y0, y1, wy = _bilinear_taps(side, size)
    x0, x1, wx = _bilinear_taps(side, size)
    rows, row_of = np.unique(np.concatenate([y0, y1]), return_inverse=True)
    cols, col_of = np.unique(np.concatenate([x0, x1]), return_inverse=True)
    pixels = gather(source, rows + top, cols + left).astype(np.float32)
    r0, r1 = row_of[:size], row_of[size:]
    c0, c1 = col_of[:size], col_of[size:]
    wx = wx[None, :, None]
    top_left, top_right = pixels[r0][:, c0], pixels[r0][:, c1]
    bottom_left, bottom_right = pixels[r1][:, c0], pixels[r1][:, c1]
    upper = top_left + (top_right - top_left) * wx
    lower = bottom_left + (bottom_right - bottom_left) * wx
    return upper + (lower - upper) * wy[:, None, None]


def to_model_pixels(resized: np.ndarray) -> np.ndarray:
    """Rounds (ties to even, as tf.round) and clips to the uint8 the model receives."""
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def preprocess(rgb: np.ndarray | Image.Image, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB as an array, or a decoded Pillow image in any mode, to the
    (size, size, 3) uint8 model input of `dfd.common.spec`."""
    if isinstance(rgb, Image.Image):
        height, width = rgb.height, rgb.width
    else:
        height, width = rgb.shape[:2]
    return to_model_pixels(resize_bilinear(rgb, center_square_box(height, width), size))
