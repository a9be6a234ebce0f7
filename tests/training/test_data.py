"""The input pipeline: shapes, ranges, determinism, caching, augmentation choices."""

import numpy as np
import pytest
import tensorflow as tf

from dfd import data


def config(**overrides):
    base = dict(image_size=32, batch_size=8, cache="memory", seed=3)
    base.update(overrides)
    return data.PipelineConfig(**base)


def collect(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


def test_train_batches_hold_integer_pixels_and_binary_labels(tiny_tfds):
    ds = data.build_dataset(str(tiny_tfds / "tfds"), "train", config(), training=True)
    images, labels = collect(ds)
    assert images.shape == (48, 32, 32, 3) and images.dtype == np.uint8
    assert sorted(set(labels.tolist())) == [0.0, 1.0] and labels.sum() == 24


def test_deterministic_switch_repeats_the_same_epoch(tiny_tfds):
    cfg = config(deterministic=True)
    first = collect(data.build_dataset(str(tiny_tfds / "tfds"), "train", cfg, training=True))
    again = collect(data.build_dataset(str(tiny_tfds / "tfds"), "train", cfg, training=True))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


def test_training_reshuffles_and_reaugments_each_epoch(tiny_tfds):
    ds = data.build_dataset(str(tiny_tfds / "tfds"), "train", config(deterministic=True),
                            training=True)
    epoch1, epoch2 = collect(ds), collect(ds)
    assert not np.array_equal(epoch1[0], epoch2[0])


def test_eval_is_unaugmented_and_in_file_order(tiny_tfds):
    cfg = config(augment=())
    one = collect(data.build_dataset(str(tiny_tfds / "tfds"), "test", cfg, training=False))
    two = collect(data.build_dataset(str(tiny_tfds / "tfds"), "test", cfg, training=False))
    np.testing.assert_array_equal(one[0], two[0])


def test_file_cache_is_written(tiny_tfds, tmp_path):
    cfg = config(cache=str(tmp_path / "cache"))
    collect(data.build_dataset(str(tiny_tfds / "tfds"), "validation", cfg, training=False))
    assert any(p.name.startswith("cache-validation-32") for p in tmp_path.iterdir())


def test_each_augmentation_keeps_shape_and_dtype():
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)), tf.uint8)
    seed = tf.constant([1, 2], tf.int64)
    for name in ("flip", "crop"):
        out = data.augment_batch(images, seed, config(augment=(name,)))
        assert out.shape == (4, 32, 32, 3) and out.dtype == tf.uint8
    out = data.recompress_jpeg(images[0], seed, config())
    assert out.shape == (32, 32, 3) and out.dtype == tf.uint8


def test_flip_mirrors_some_images_and_keeps_the_rest():
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)), tf.uint8)
    out = data.augment_batch(images, tf.constant([5, 6], tf.int64),
                             config(image_size=8, augment=("flip",))).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images.numpy())]
    kept = [np.array_equal(o, i) for o, i in zip(out, images.numpy())]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_unknown_augmentation_is_refused_by_name():
    with pytest.raises(ValueError, match="blur"):
        config(augment=("flip", "blur"))


def test_split_info_reports_class_counts(tiny_tfds):
    info = data.split_info(str(tiny_tfds / "tfds"), "train")
    assert info == {"num_examples": 48, "class_counts": {"real": 24, "fake": 24}}
