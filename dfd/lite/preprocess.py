"""The preprocessing contract of `dfd.spec` in numpy, for devices without TensorFlow.

The arithmetic mirrors TensorFlow's ResizeBilinear kernel with half-pixel centres step by
step in float32 (same source coordinates, same clamping, same order of the lerps), so the
rounded uint8 result matches `dfd.data.preprocess_image` bit for bit: on every image
`tests/lite/test_preprocess_parity.py` tries, the largest difference is 0.
"""

from __future__ import annotations

import numpy as np


def center_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an (H, W, C) array (a view, no copy)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top:top + side, left:left + side]


def _bilinear_taps(in_size: int, out_size: int):
    """Lower/upper source indices and lerp weights along one axis, as TensorFlow computes them."""
    scale = np.float32(in_size) / np.float32(out_size)
    source = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(source)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(source).astype(np.int64), in_size - 1)
    lerp = (source - floor).astype(np.float32)
    return lower, upper, lerp


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) uint8 or float to (size, size, C) float32, TensorFlow's half-pixel bilinear."""
    pixels = image.astype(np.float32)
    y0, y1, wy = _bilinear_taps(pixels.shape[0], size)
    x0, x1, wx = _bilinear_taps(pixels.shape[1], size)
    wx = wx[None, :, None]
    top_left, top_right = pixels[y0][:, x0], pixels[y0][:, x1]
    bottom_left, bottom_right = pixels[y1][:, x0], pixels[y1][:, x1]
    top = top_left + (top_right - top_left) * wx
    bottom = bottom_left + (bottom_right - bottom_left) * wx
    return top + (bottom - top) * wy[:, None, None]


def to_model_pixels(resized: np.ndarray) -> np.ndarray:
    """Rounds (ties to even, as tf.round) and clips to the uint8 the model receives."""
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def preprocess(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB to the (size, size, 3) uint8 model input of `dfd.spec`."""
    return to_model_pixels(resize_bilinear(center_square(rgb), size))
