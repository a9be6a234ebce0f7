"""Face-outline masks of real training images, for self-blends shaped like a face swap.

A face swap replaces the face inside its outline, so the seam it leaves follows the jaw,
the cheeks and the hairline. Self-blended images (Shiohara and Yamasaki, CVPR 2022) teach
that seam when the blend mask is the convex hull of the face's landmarks, as the paper draws
it; a centred ellipse puts the seam where no swap would. The landmarks come from MediaPipe's
face mesh (`dfd.lite.faces.mesh`), run once per real image before the cache, so each epoch's
random deformation of the mask (`dfd.train.augment.self_blend`) costs nothing extra.

A mask is uint8 (S, S, 1) at the model's input size, 255 inside the hull; all zeros when
the image is a fake (fakes are never self-blended) or no face was found with confidence
(`augment.self_blend` then falls back to the ellipse).
"""

from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from dfd.lite.faces.mesh import FaceMesh

CHOICES = ("ellipse", "face_mesh")
"""`--self_blend_mask`: where the whole-face self-blend's mask comes from."""


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of (N, 2) points, counter-clockwise in x-right/y-up terms, without
    repeating the first point (Andrew's monotone chain: sort once, two linear passes)."""
    unique = np.unique(np.asarray(points, np.float64), axis=0)  # sorted by x, then y
    if len(unique) < 3:
        return unique

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def chain(ordered):
        kept = []
        for point in ordered:
            while len(kept) >= 2 and cross(kept[-2], kept[-1], point) <= 0:
                kept.pop()
            kept.append(point)
        return kept[:-1]

    return np.array(chain(unique) + chain(unique[::-1]))


def hull_mask(points: np.ndarray, source_side: float, size: int) -> np.ndarray:
    """(size, size) uint8 mask, 255 inside the hull of `points` given in the pixels of a
    square image of side `source_side`."""
    hull = convex_hull(np.asarray(points, np.float64) * (size / float(source_side)))
    canvas = Image.new("L", (size, size), 0)
    if len(hull) >= 3:
        ImageDraw.Draw(canvas).polygon([tuple(p) for p in hull], fill=255)
    return np.asarray(canvas, np.uint8)


_local = threading.local()


def _mesh() -> FaceMesh:
    """One interpreter per input-pipeline thread: a LiteRT interpreter is not thread-safe."""
    if not hasattr(_local, "mesh"):
        _local.mesh = FaceMesh(threads=1)
    return _local.mesh


def face_mask_numpy(square: np.ndarray, label: float, size: int) -> np.ndarray:
    """The (size, size, 1) mask of one centred-square uint8 image (zeros for a fake)."""
    mask = np.zeros((size, size, 1), np.uint8)
    if float(label) >= 0.5 or square.shape[0] < 16:
        return mask
    found = _mesh().landmarks(Image.fromarray(np.ascontiguousarray(square)))
    if found is not None:
        mask[:, :, 0] = hull_mask(found.points, square.shape[0], size)
    return mask


def face_mask(square: tf.Tensor, label: tf.Tensor, size: int) -> tf.Tensor:
    """`face_mask_numpy` in a tf.data map: the centred square of the decoded image (before
    the resize, so the mesh sees the source's pixels) to the mask at the model's size."""
    mask = tf.numpy_function(lambda s, l: face_mask_numpy(s, l, size), [square, label],
                             tf.uint8, stateful=False)
    return tf.ensure_shape(mask, [size, size, 1])
