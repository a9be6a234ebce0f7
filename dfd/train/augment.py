"""Training-time image changes that teach a detector what carries over to unseen sources.

Two kinds, both applied per image after the cache (so each epoch draws new ones), all
stateless and seeded so a `--deterministic` run repeats exactly:

* Degradations (Wang et al., CVPR 2020): Gaussian blur, down-and-up resizing and JPEG
  re-compression, each with its own coin. A detector trained on pristine images keys on
  the finest traces, which the next re-save or resize erases; trained through these it
  learns cues that survive them (measured in BUILD_NOTES.md's ablation table).
* Self-blended images (Shiohara and Yamasaki, CVPR 2022): a real face blended, inside a
  soft elliptical mask, with a slightly shifted, recoloured and re-filtered copy of itself,
  labelled fake. Real images alone then teach the blending boundary that face swaps and
  local edits leave, instead of one generator's fingerprint. The Kaggle crops are centred
  faces, so a centred ellipse covers the face; a small off-centre ellipse mimics a local
  edit of an eye, nose or mouth (rff160's Photoshop fakes).

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
    """Separable Gaussian blur of a float (H, W, 3) image of static size; the kernel is sized
    for `max_sigma` so one graph serves every drawn sigma (edges reflected).

    As two matrix products (M_rows @ X, then the same along the columns) rather than two
    depthwise convolutions: the same sums, but CPU depthwise kernels are slow at this size
    (blur was 80% of the default augmentation's cost; BUILD_NOTES.md, issue 24). Each product
    is one (side x side) @ (side x 3 side) matrix multiply on a reshaped view, and a square
    image reuses its row matrix for the columns."""
    height, width = image.shape[0], image.shape[1]
    if height is None or width is None:
        raise ValueError("gaussian_blur needs an image of static height and width")
    radius = int(max(1, round(3 * max_sigma)))
    rows = blur_matrix(height, sigma, radius)
    cols = rows if width == height else blur_matrix(width, sigma, radius)
    down = tf.reshape(tf.matmul(rows, tf.reshape(image, [height, width * 3])), [height, width, 3])
    across = tf.transpose(down, [1, 0, 2])
    across = tf.reshape(tf.matmul(cols, tf.reshape(across, [width, height * 3])),
                        [width, height, 3])
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


def blend_mask(size, seed: tf.Tensor) -> tf.Tensor:
    """A soft ellipse in [0, 1], (size, size, 1): half the time the whole face (centred,
    slightly jittered), half the time one small region of it (an eye, the nose, the mouth),
    with a soft edge of random width and a random blend strength."""
    s = tf.unstack(tf.random.experimental.stateless_split(seed, 8))
    local = _coin(s[0], 0.5)
    centre = tf.where(local, _uniform(s[1], 0.3, 0.7, [2]), _uniform(s[2], 0.45, 0.55, [2]))
    radii = tf.where(local, _uniform(s[3], 0.08, 0.2, [2]), _uniform(s[4], 0.25, 0.42, [2]))
    side = tf.cast(size, tf.float32)
    grid = (tf.range(side, dtype=tf.float32) + 0.5) / side
    dy = (grid[:, None] - centre[0]) / radii[0]
    dx = (grid[None, :] - centre[1]) / radii[1]
    distance = tf.sqrt(dy * dy + dx * dx)
    softness = _uniform(s[5], 0.1, 0.5)
    mask = tf.clip_by_value((1.0 - distance) / softness, 0.0, 1.0)
    strength = _uniform(s[6], 0.5, 1.0)
    return (mask * strength)[:, :, None]


def self_blend(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One real uint8 image blended with a changed copy of itself inside `blend_mask`.

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
    mask = blend_mask(size, s[7])
    return _to_uint8(pixels * (1.0 - mask) + copy * mask)


def augment_example(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor, names,
                    config: AugmentConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """The per-image training changes of one (image, label) pair: self-blend a real image
    into a fake first (so the blend is then degraded like any forgery), then degrade."""
    blend_seed, coin_seed, degrade_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    if SELF_BLEND in names:
        blend = tf.logical_and(label < 0.5, _coin(coin_seed, config.self_blend_probability))
        image = tf.cond(blend, lambda: self_blend(image, blend_seed), lambda: image)
        label = tf.where(blend, tf.ones_like(label), label)
    if set(DEGRADATIONS) & set(names):
        image = degrade(image, degrade_seed, names, config)
    return image, label
