"""Training-time image changes that teach a detector what carries over to unseen sources.

Two kinds, both applied per image after the cache (so each epoch draws new ones), all
stateless and seeded so a `--deterministic` run repeats exactly:

* Degradations (Wang et al., CVPR 2020): Gaussian blur, down-and-up resizing and JPEG
  re-compression, each with its own coin. A detector trained on pristine images keys on
  the finest traces, which the next re-save or resize erases; trained through these it
  learns cues that survive them (measured in BUILD_NOTES.md's ablation table).
* Self-blended images (Shiohara and Yamasaki, CVPR 2022): a real face blended, inside a
  soft mask, with a slightly shifted, recoloured and re-filtered copy of itself, labelled
  fake. Real images alone then teach the blending boundary that face swaps and local edits
  leave, instead of one generator's fingerprint. The whole-face mask is the face's landmark
  hull, deformed (the paper's; `--self_blend_mask=face_mesh`), or a centred ellipse, which
  needs no landmarks because the Kaggle crops are centred faces; a small off-centre ellipse
  mimics a local edit of an eye, nose or mouth (rff160's Photoshop fakes).

Images are uint8 (S, S, 3) at the model's input size; every function returns the same.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf

DEGRADATIONS = ("blur", "resize", "jpeg")
SELF_BLEND = "self_blend"


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Strengths and probabilities; the defaults are the recipe BUILD_NOTES.md chose."""
    probability: float = 0.5
    """Chance of each degradation (blur, resize, JPEG) being applied, independently."""
    blur_sigma: tuple[float, float] = (0.1, 3.0)
    resize_scale: tuple[float, float] = (0.25, 1.0)
    jpeg_quality: tuple[int, int] = (30, 100)
    self_blend_probability: float = 0.5
    """Chance that a real training image is replaced by its self-blend (labelled fake)."""
    self_blend_mask: str = "ellipse"
    """Whole-face blends inside a centred ellipse, or ("face_mesh") inside the face's
    landmark hull (`dfd.train.face_masks`), as the SBI paper draws them."""


def _uniform(seed, low, high, shape=()):
    return tf.random.stateless_uniform(shape, seed, low, high)


def _coin(seed, probability):
    return tf.random.stateless_uniform([], seed) < probability


@functools.lru_cache(maxsize=32)
def _band_pattern(side: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Which tap of a (2 * radius + 1)-tap kernel lands on each (row, column) of a side x side
    blur matrix once the edges are reflected; index 2 * radius + 1 means none. Reflection sends
    at most two taps to one cell (near the edges), hence two index planes. Built once per image
    size, in numpy: building it in the graph for every image (a one-hot tensor of side^2 x taps)
    cost more than the blur itself (BUILD_NOTES.md, issue 24, session 11)."""
    if radius >= side:
        raise ValueError(f"blur radius {radius} needs an image side above it, got {side}")
    none = 2 * radius + 1
    source = np.arange(side)[:, None] + np.arange(-radius, radius + 1)[None, :]
    source = np.abs(source)
    source = np.where(source > side - 1, 2 * (side - 1) - source, source)
    planes = np.full((2, side, side), none, np.int32)
    for row in range(side):
        for tap, column in enumerate(source[row]):
            plane = 0 if planes[0, row, column] == none else 1
            planes[plane, row, column] = tap
    return planes[0], planes[1]


def blur_matrix(side: int, sigma: tf.Tensor, radius: int) -> tf.Tensor:
    """(side, side) matrix M such that M @ column is the column blurred by a Gaussian of
    `sigma` with taps out to `radius`, its edges reflected as tf.pad's REFLECT does."""
    taps = tf.range(-radius, radius + 1)
    kernel = tf.exp(-0.5 * tf.square(tf.cast(taps, tf.float32) / tf.maximum(sigma, 1e-3)))
    kernel = tf.concat([kernel / tf.reduce_sum(kernel), [0.0]], axis=0)
    first, second = _band_pattern(int(side), radius)
    return tf.gather(kernel, first) + tf.gather(kernel, second)


def gaussian_blur(image: tf.Tensor, sigma: tf.Tensor, max_sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of a float (H, W, C) image of static shape; the kernel is sized
    for `max_sigma` so one graph serves every drawn sigma (edges reflected).

    As two matrix products (M_rows @ X, then the same along the columns) rather than two
    depthwise convolutions: the same sums, but CPU depthwise kernels are slow at this size
    (blur was 80% of the default augmentation's cost; BUILD_NOTES.md, issue 24). Each product
    is one (side x side) @ (side x C side) matrix multiply on a reshaped view, and a square
    image reuses its row matrix for the columns."""
    height, width, channels = image.shape[0], image.shape[1], image.shape[2]
    if height is None or width is None or channels is None:
        raise ValueError("gaussian_blur needs an image of static shape")
    radius = int(max(1, round(3 * max_sigma)))
    rows = blur_matrix(height, sigma, radius)
    cols = rows if width == height else blur_matrix(width, sigma, radius)
    down = tf.reshape(tf.matmul(rows, tf.reshape(image, [height, width * channels])),
                      [height, width, channels])
    across = tf.transpose(down, [1, 0, 2])
    across = tf.reshape(tf.matmul(cols, tf.reshape(across, [width, height * channels])),
                        [width, height, channels])
    return tf.transpose(across, [1, 0, 2])


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def degrade(image: tf.Tensor, seed: tf.Tensor, names, config: AugmentConfig) -> tf.Tensor:
    """Blur, then down-and-up resize, then JPEG: the order an image meets them on its way
    from a camera or generator through editing to an upload. Each behind its own coin and
    `tf.cond`, so an image whose coins say no costs nothing."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 6))
    size = tf.shape(image)[0:2]
    if "blur" in names:
        low, high = config.blur_sigma
        sigma = _uniform(seeds[1], low, high)
        image = tf.cond(
            _coin(seeds[0], config.probability),
            lambda: _to_uint8(gaussian_blur(tf.cast(image, tf.float32), sigma, high)),
            lambda: image)
    if "resize" in names:
        low, high = config.resize_scale
        scale = _uniform(seeds[3], low, high)
        small = tf.maximum(tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32), 8)

        def down_up():
            shrunk = tf.image.resize(image, small, "bilinear", antialias=True)
            return _to_uint8(tf.image.resize(shrunk, size, "bilinear"))
        image = tf.cond(_coin(seeds[2], config.probability), down_up, lambda: image)
    if "jpeg" in names:
        low, high = config.jpeg_quality
        image = tf.cond(
            _coin(seeds[4], config.probability),
            lambda: tf.image.stateless_random_jpeg_quality(image, low, high, seeds[5]),
            lambda: image)
    return image


HULL_WARP = (0.9, 1.1)
"""Per-axis scale of the face hull before blurring, so the seam is not always on the outline."""
HULL_SHIFT = 0.03
"""Largest shift of the warped hull, as a share of the image side."""
HULL_SOFTNESS = 0.04
"""Largest blur sigma of the hull, as a share of the image side (5 px at 128)."""


def _ellipse(size, centre, radii, softness) -> tf.Tensor:
    side = tf.cast(size, tf.float32)
    grid = (tf.range(side, dtype=tf.float32) + 0.5) / side
    dy = (grid[:, None] - centre[0]) / radii[0]
    dx = (grid[None, :] - centre[1]) / radii[1]
    distance = tf.sqrt(dy * dy + dx * dx)
    return tf.clip_by_value((1.0 - distance) / softness, 0.0, 1.0)[:, :, None]


def deformed_hull(hull: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A face-outline mask (float (S, S, 1) in [0, 1], S static) made into a random soft blend
    mask as SBI makes its own: stretched and shifted a little, blurred, cut at a random level
    (below 0.5 it grows the region, above it shrinks it) and blurred again for a soft edge."""
    s = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    size = hull.shape[0]
    scale = _uniform(s[0], HULL_WARP[0], HULL_WARP[1], [2])
    shift = _uniform(s[1], -HULL_SHIFT, HULL_SHIFT, [2])
    half = 0.5 / scale
    box = tf.stack([0.5 - half[0] + shift[0], 0.5 - half[1] + shift[1],
                    0.5 + half[0] + shift[0], 0.5 + half[1] + shift[1]])
    warped = tf.image.crop_and_resize(hull[None], box[None], [0], [size, size])[0]
    warped = tf.ensure_shape(warped, hull.shape)
    largest = max(1.0, HULL_SOFTNESS * size)
    grown = gaussian_blur(warped, _uniform(s[2], 0.5, largest), largest)
    core = tf.cast(grown > _uniform(s[3], 0.2, 0.8), tf.float32)
    return gaussian_blur(core, _uniform(s[4], 0.5, largest), largest)


def blend_mask(size, seed: tf.Tensor, hull: tf.Tensor | None = None) -> tf.Tensor:
    """A soft mask in [0, 1], (size, size, 1): half the time the whole face, half the time
    one small region of it (an eye, the nose, the mouth, as an ellipse), with a random blend
    strength. The whole face is `deformed_hull(hull)` when a face outline is given and not
    empty, else a centred, slightly jittered ellipse."""
    s = tf.unstack(tf.random.experimental.stateless_split(seed, 8))
    local = _coin(s[0], 0.5)
    centre = tf.where(local, _uniform(s[1], 0.3, 0.7, [2]), _uniform(s[2], 0.45, 0.55, [2]))
    radii = tf.where(local, _uniform(s[3], 0.08, 0.2, [2]), _uniform(s[4], 0.25, 0.42, [2]))
    softness = _uniform(s[5], 0.1, 0.5)
    strength = _uniform(s[6], 0.5, 1.0)
    ellipse = lambda: _ellipse(size, centre, radii, softness)  # noqa: E731
    if hull is None:
        return ellipse() * strength
    outline = tf.cast(hull, tf.float32) / 255.0
    use_hull = tf.logical_and(tf.logical_not(local), tf.reduce_max(outline) > 0.5)
    mask = tf.cond(use_hull, lambda: deformed_hull(outline, s[7]), ellipse)
    return mask * strength


def self_blend(image: tf.Tensor, seed: tf.Tensor, hull: tf.Tensor | None = None) -> tf.Tensor:
    """One real uint8 image blended with a changed copy of itself inside `blend_mask`
    (`hull`: the image's uint8 (S, S, 1) face outline from `dfd.train.face_masks`, or None).

    The copy is shifted and rescaled by a few per cent (the misalignment a swap leaves),
    recoloured per channel and blurred or sharpened (the colour and texture mismatch)."""
    s = tf.unstack(tf.random.experimental.stateless_split(seed, 8))
    size = tf.shape(image)[0]
    pixels = tf.cast(image, tf.float32)
    scale = _uniform(s[0], 0.95, 1.05)
    shift = _uniform(s[1], -0.03, 0.03, [2])
    half = 0.5 / scale
    box = tf.stack([0.5 - half + shift[0], 0.5 - half + shift[1],
                    0.5 + half + shift[0], 0.5 + half + shift[1]])
    copy = tf.image.crop_and_resize(pixels[None], box[None], [0], tf.stack([size, size]))[0]
    copy = tf.ensure_shape(copy, pixels.shape)  # static, for gaussian_blur
    gain = _uniform(s[2], 0.9, 1.1, [1, 1, 3])
    offset = _uniform(s[3], -12.0, 12.0, [1, 1, 3])
    copy = copy * gain + offset
    blurred = gaussian_blur(copy, _uniform(s[4], 0.5, 1.5), 1.5)
    amount = _uniform(s[5], 0.3, 1.0)
    copy = tf.where(_coin(s[6], 0.5), blurred, copy + amount * (copy - blurred))
    mask = blend_mask(size, s[7], hull)
    return _to_uint8(pixels * (1.0 - mask) + copy * mask)


def augment_example(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor, names,
                    config: AugmentConfig, hull: tf.Tensor | None = None
                    ) -> tuple[tf.Tensor, tf.Tensor]:
    """The per-image training changes of one (image, label) pair: self-blend a real image
    into a fake first (so the blend is then degraded like any forgery), then degrade.
    `hull`: the image's face outline for the self-blend (`dfd.train.face_masks`), or None."""
    blend_seed, coin_seed, degrade_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    if SELF_BLEND in names:
        blend = tf.logical_and(label < 0.5, _coin(coin_seed, config.self_blend_probability))
        image = tf.cond(blend, lambda: self_blend(image, blend_seed, hull), lambda: image)
        label = tf.where(blend, tf.ones_like(label), label)
    if set(DEGRADATIONS) & set(names):
        image = degrade(image, degrade_seed, names, config)
    return image, label
