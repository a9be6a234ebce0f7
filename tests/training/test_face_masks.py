"""Face-outline self-blend masks: the hull, the face mesh on a real face, the deformed mask
and the blend it shapes, and the pipeline that carries the masks."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import TF_ENV, textured_rgb

from dfd.train import augment, face_masks, pipeline


def test_convex_hull_keeps_the_corners_and_drops_the_inside():
    corners = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)
    inside = np.random.default_rng(0).uniform(1, 9, (50, 2))
    hull = face_masks.convex_hull(np.concatenate([inside, corners, corners[:2]]))
    assert sorted(map(tuple, hull.tolist())) == sorted(map(tuple, corners.tolist()))


def test_hull_mask_fills_the_polygon_at_the_model_size():
    # A triangle over half of a 200-px square, drawn at 50 px: half the mask's pixels.
    mask = face_masks.hull_mask(np.array([[0, 0], [200, 0], [0, 200]]), 200, 50)
    assert mask.shape == (50, 50) and mask.dtype == np.uint8
    assert mask[5, 5] == 255 and mask[45, 45] == 0
    assert abs((mask > 0).mean() - 0.5) < 0.05


def _square(path) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return pixels[top:top + side, left:left + side]


def test_a_real_face_gets_its_outline_and_noise_or_a_fake_gets_none(shared_set):
    face = _square(sorted((shared_set("rff160") / "Train" / "Real").glob("*.jpg"))[0])
    mask = face_masks.face_mask(tf.constant(face), tf.constant(0.0), 64).numpy()
    assert mask.shape == (64, 64, 1)
    covered = (mask[:, :, 0] > 0).mean()
    assert 0.1 < covered < 0.9, "a face crop's outline covers part of it"
    assert mask[32, 32, 0] == 255, "the centre of a centred face is inside its outline"
    assert not face_masks.face_mask_numpy(face, 1.0, 64).any(), "fakes are never blended"
    noise = np.random.default_rng(1).integers(0, 256, (160, 160, 3), np.uint8)
    assert not face_masks.face_mask_numpy(noise, 0.0, 64).any(), "no face, no outline"


def disk(size: int, radius: float, centre: float | None = None) -> tf.Tensor:
    grid = np.arange(size) + 0.5 - (size / 2 if centre is None else centre)
    inside = grid[:, None] ** 2 + grid[None, :] ** 2 <= radius ** 2
    return tf.constant((inside * 255).astype(np.uint8)[:, :, None])


def whole_face_seeds(count: int, for_self_blend: bool = False):
    """Seeds whose blend_mask (or self_blend's, which hands blend_mask the last of its eight
    seeds) draws the whole-face mask: blend_mask's first coin says not local."""
    found, k = [], 0
    while len(found) < count:
        seed = tf.constant([k, 5], tf.int64)
        mask_seed = tf.random.experimental.stateless_split(seed, 8)[7] if for_self_blend else seed
        first = tf.random.experimental.stateless_split(mask_seed, 8)[0]
        if not augment._coin(first, 0.5).numpy():
            found.append(seed)
        k += 1
    return found


def test_the_whole_face_mask_follows_the_outline_it_is_given():
    # An outline in the top-left corner: the ellipse would blend the centre instead.
    size, radius, centre = 64, 8, 16
    outline = disk(size, radius, centre)
    far = disk(size, 20, centre).numpy()[:, :, 0] == 0
    for seed in whole_face_seeds(6):
        mask = augment.blend_mask(size, seed, outline).numpy()[:, :, 0]
        ellipse = augment.blend_mask(size, seed).numpy()[:, :, 0]
        assert mask[centre, centre] > 0.4, "the outline's inside is blended"
        assert mask[far].max() < 0.02, "nothing far outside the outline is blended"
        assert ellipse[size // 2, size // 2] > 0.4, "(the ellipse would have blended the centre)"


def test_an_empty_outline_falls_back_to_the_ellipse():
    empty = tf.zeros([32, 32, 1], tf.uint8)
    for k in range(6):
        seed = tf.constant([k, 2], tf.int64)
        np.testing.assert_array_equal(augment.blend_mask(32, seed, empty).numpy(),
                                      augment.blend_mask(32, seed).numpy())


def test_a_face_blend_changes_pixels_only_near_the_outline():
    image = tf.constant(textured_rgb(64, 64, seed=3))
    outline = disk(64, 8, 16)
    inside = outline.numpy()[:, :, 0] > 0
    near = disk(64, 20, 16).numpy()[:, :, 0] > 0
    for seed in whole_face_seeds(4, for_self_blend=True):
        changed = np.any(augment.self_blend(image, seed, outline).numpy() != image.numpy(), -1)
        assert changed[inside].mean() > 0.5
        assert not changed[~near].any()


def config(**overrides):
    base = dict(image_size=32, batch_size=8, cache="memory", seed=3, deterministic=True,
                augment=("self_blend",))
    base.update(overrides)
    return pipeline.PipelineConfig(**base)


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_without_faces_the_face_mesh_pipeline_trains_on_the_ellipse_blends(tiny_tfds):
    """The demo images hold no face: every outline is empty, so the run is the ellipse's."""
    data = str(tiny_tfds / "tfds")
    mesh = config(augmentation=augment.AugmentConfig(self_blend_mask="face_mesh"))
    assert mesh.face_masks and not config().face_masks
    with_mesh = batches(pipeline.build_dataset(data, "train", mesh, training=True))
    plain = batches(pipeline.build_dataset(data, "train", config(), training=True))
    assert len(with_mesh) == len(plain)
    for (x1, y1), (x2, y2) in zip(with_mesh, plain):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_face_masks_get_a_file_cache_of_their_own(tiny_tfds):
    found = pipeline.builder(str(tiny_tfds / "tfds"))
    plain = pipeline.cache_identity(found, "train", 32)
    masked = pipeline.cache_identity(found, "train", 32, with_face_masks=True)
    assert pipeline.cache_path("c", plain) != pipeline.cache_path("c", masked)


def test_an_unknown_mask_is_refused_by_name():
    with pytest.raises(ValueError, match="self_blend_mask must be one of"):
        config(augmentation=augment.AugmentConfig(self_blend_mask="landmarks"))


def test_a_face_mesh_mask_without_self_blend_is_refused_by_flag(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dfd.train", f"--data_dir={tmp_path}",
         f"--workdir={tmp_path / 'run'}",
         "--self_blend_mask=face_mesh", "--augment=flip,jpeg"],
        env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "--self_blend_mask=face_mesh shapes the self_blend augmentation" in result.stderr
    assert not (tmp_path / "run").exists()
