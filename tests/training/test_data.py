"""The input pipeline: shapes, ranges, determinism, caching, augmentation choices."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from conftest import textured_rgb

from dfd.train import augment, pipeline


def config(**overrides):
    base = dict(image_size=32, batch_size=8, cache="memory", seed=3)
    base.update(overrides)
    return pipeline.PipelineConfig(**base)


def collect(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


def test_train_batches_hold_integer_pixels_and_binary_labels(tiny_tfds):
    ds = pipeline.build_dataset(str(tiny_tfds / "tfds"), "train", config(), training=True)
    images, labels = collect(ds)
    assert images.shape == (48, 32, 32, 3) and images.dtype == np.uint8
    assert sorted(set(labels.tolist())) == [0.0, 1.0] and labels.sum() == 24


def test_deterministic_switch_repeats_the_same_epoch(tiny_tfds):
    cfg = config(deterministic=True)
    first = collect(pipeline.build_dataset(str(tiny_tfds / "tfds"), "train", cfg, training=True))
    again = collect(pipeline.build_dataset(str(tiny_tfds / "tfds"), "train", cfg, training=True))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


def test_training_reshuffles_and_reaugments_each_epoch(tiny_tfds):
    ds = pipeline.build_dataset(str(tiny_tfds / "tfds"), "train", config(deterministic=True),
                            training=True)
    epoch1, epoch2 = collect(ds), collect(ds)
    assert not np.array_equal(epoch1[0], epoch2[0])


def stored_tensors(data_dir: str, split: str, size: int):
    """The contract's tensor and label of each stored record, in TFDS's file order."""
    import tensorflow_datasets as tfds
    raw = pipeline.builder(data_dir).as_dataset(split, shuffle_files=False,
                                            decoders={"image": tfds.decode.SkipDecoding()})
    pairs = [(pipeline.preprocess_image(pipeline.decode(ex["image"]), size).numpy(),
              float(ex["label"])) for ex in raw]
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs], np.float32)


def test_eval_is_unaugmented_and_in_file_order(tiny_tfds):
    """Every augmentation asked for, yet evaluation gives each stored record's plain tensor
    at its position in the files."""
    data_dir = str(tiny_tfds / "tfds")
    expected = stored_tensors(data_dir, "test", 32)
    cfg = config(augment=pipeline.AUGMENTATIONS, cache="none")
    for _ in range(2):
        images, labels = collect(pipeline.build_dataset(data_dir, "test", cfg, training=False))
        np.testing.assert_array_equal(images, expected[0])
        np.testing.assert_array_equal(labels, expected[1])


def sorted_rows(images):
    return sorted(image.tobytes() for image in images)


@pytest.mark.parametrize("name", ["flip", "crop", "jpeg"])
def test_each_augmentation_changes_training_pixels(tiny_tfds, name):
    """Same seed, same shuffle: without augmentation the training images are exactly the
    stored tensors; with one augmentation some of them change, and only as it would."""
    data_dir = str(tiny_tfds / "tfds")
    plain = collect(pipeline.build_dataset(data_dir, "train", config(augment=(), deterministic=True),
                                       training=True))
    assert sorted_rows(plain[0]) == sorted_rows(stored_tensors(data_dir, "train", 32)[0])
    augmented = collect(pipeline.build_dataset(
        data_dir, "train", config(augment=(name,), deterministic=True), training=True))
    np.testing.assert_array_equal(augmented[1], plain[1])
    changed = [not np.array_equal(a, p) for a, p in zip(augmented[0], plain[0])]
    assert sum(changed) >= len(changed) // 4, f"{name} changed {sum(changed)} images"
    if name == "flip":
        for a, p, c in zip(augmented[0], plain[0], changed):
            assert not c or np.array_equal(a, p[:, ::-1])
    if name == "jpeg":
        assert not all(changed), "re-compression happens with probability 1/2"


def test_file_cache_is_written(tiny_tfds, tmp_path):
    cfg = config(cache=str(tmp_path / "cache"))
    collect(pipeline.build_dataset(str(tiny_tfds / "tfds"), "validation", cfg, training=False))
    assert any(p.name.startswith("cache-validation-32-") for p in tmp_path.iterdir())


def build_tiny(source: pathlib.Path, data_dir: pathlib.Path, seed: int) -> str:
    """A validation-only deepfake_real_images build of 6 generated images."""
    import tensorflow_datasets as tfds

    from dfd.builders.deepfake_real_images import Builder
    from dfd.builders import demo_data

    demo_data.generate(str(source), {"Validation": 3}, size=40, seed=seed)
    Builder(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(source)))
    return str(data_dir)


def eval_images(data_dir: str, cache: str) -> np.ndarray:
    cfg = config(cache=cache, augment=())
    return collect(pipeline.build_dataset(data_dir, "validation", cfg, training=False))[0]


def test_one_cache_prefix_serves_each_dataset_its_own_examples(tmp_path):
    """Two data sets behind one --cache prefix (in a folder that does not exist yet): each
    read, first filling its cache and then from it, gives its own images."""
    prefix = str(tmp_path / "not" / "yet" / "cache")
    first = build_tiny(tmp_path / "a", tmp_path / "tfds_a", seed=1)
    second = build_tiny(tmp_path / "b", tmp_path / "tfds_b", seed=2)
    expected = {d: eval_images(d, "none") for d in (first, second)}
    assert not np.array_equal(expected[first], expected[second])
    for data_dir in (first, second, first, second):
        np.testing.assert_array_equal(eval_images(data_dir, prefix), expected[data_dir])
    assert len({p.name.split(".")[0] for p in (tmp_path / "not" / "yet").iterdir()}) == 2


def test_rebuilt_source_in_the_same_data_dir_never_reuses_the_cache(tmp_path):
    """Same builder, version, data dir, split and counts: only the source files differ."""
    prefix = str(tmp_path / "cache")
    data_dir = build_tiny(tmp_path / "a", tmp_path / "tfds", seed=1)
    old = eval_images(data_dir, prefix)
    shutil.rmtree(data_dir)
    build_tiny(tmp_path / "b", tmp_path / "tfds", seed=2)
    new = eval_images(data_dir, "none")
    assert not np.array_equal(old, new)
    np.testing.assert_array_equal(eval_images(data_dir, prefix), new)


def test_cache_key_follows_the_preprocessing_contract(tiny_tfds):
    found = pipeline.builder(str(tiny_tfds / "tfds"))
    paths = {pipeline.cache_path("/c/run", pipeline.cache_identity(found, split, size))
             for split in ("train", "validation") for size in (32, 64)}
    assert len(paths) == 4
    again = pipeline.cache_path("/c/run", pipeline.cache_identity(found, "train", 32))
    assert again in paths and again.startswith("/c/run-train-32-")


def test_each_augmentation_keeps_shape_and_dtype():
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)), tf.uint8)
    seed = tf.constant([1, 2], tf.int64)
    for name in ("flip", "crop"):
        out = pipeline.augment_batch(images, seed, config(augment=(name,)))
        assert out.shape == (4, 32, 32, 3) and out.dtype == tf.uint8
    for name in ("jpeg", "blur", "resize", "self_blend"):
        out, label = augment.augment_example(images[0], tf.constant(0.0), seed, (name,),
                                             augment.AugmentConfig())
        assert out.shape == (32, 32, 3) and out.dtype == tf.uint8 and label.dtype == tf.float32


@pytest.mark.parametrize("names,crop_min_scale", [(("flip",), 0.8), (("flip", "crop"), 1.0)])
def test_flip_mirrors_some_images_and_keeps_the_rest(names, crop_min_scale):
    """Alone, and riding in a crop that keeps the whole image (a mirrored crop box)."""
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)), tf.uint8)
    out = pipeline.augment_batch(images, tf.constant([5, 6], tf.int64),
                                 config(image_size=8, augment=names,
                                        crop_min_scale=crop_min_scale)).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images.numpy())]
    kept = [np.array_equal(o, i) for o, i in zip(out, images.numpy())]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_unknown_augmentation_is_refused_by_name():
    with pytest.raises(ValueError, match="sharpen"):
        config(augment=("flip", "sharpen"))


def test_split_info_reports_class_counts(tiny_tfds):
    info = pipeline.split_info(str(tiny_tfds / "tfds"), "train")
    assert info == {"num_examples": 48, "class_counts": {"real": 24, "fake": 24}}


ALWAYS = augment.AugmentConfig(probability=1.0, self_blend_probability=1.0)


@pytest.mark.parametrize("name", ["jpeg", "blur", "resize"])
def test_each_degradation_changes_pixels_and_keeps_the_label(name):
    image = tf.constant(textured_rgb(64, 64, seed=1))
    out, label = augment.augment_example(image, tf.constant(1.0), tf.constant([7, 8], tf.int64),
                                         (name,), ALWAYS)
    difference = np.abs(out.numpy().astype(int) - image.numpy().astype(int))
    assert difference.mean() > 0.5, f"{name} left the image (almost) as it was"
    assert label.numpy() == 1.0


def test_blur_removes_high_frequencies():
    image = tf.constant(np.random.default_rng(2).integers(0, 256, (64, 64, 3)), tf.uint8)
    blurred = augment.gaussian_blur(tf.cast(image, tf.float32), tf.constant(2.0), 3.0).numpy()
    def roughness(x):
        return np.abs(np.diff(x.astype(np.float64), axis=1)).mean()
    assert roughness(blurred) < 0.2 * roughness(image.numpy())


@pytest.mark.parametrize("shape", [(32, 40, 3), (128, 128, 3)])
@pytest.mark.parametrize("sigma", [0.1, 0.8, 3.0])
def test_blur_is_the_reflect_padded_separable_convolution(shape, sigma):
    """The matrix form gives the sums of the depthwise convolution it replaced."""
    image = tf.constant(np.random.default_rng(1).integers(0, 256, shape), tf.float32)
    radius = 9  # 3 * max_sigma
    taps = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * np.square(taps / sigma))
    kernel = tf.constant(kernel / kernel.sum())
    x = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    x = tf.nn.depthwise_conv2d(x, tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, 3, 1]),
                               [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, 3, 1]),
                               [1, 1, 1, 1], "VALID")
    blurred = augment.gaussian_blur(image, tf.constant(sigma), 3.0)
    np.testing.assert_allclose(blurred.numpy(), x[0].numpy(), atol=2e-3)


def test_self_blend_turns_a_real_image_into_a_fake_and_leaves_fakes_alone():
    image = tf.constant(textured_rgb(64, 64, seed=3))
    seed = tf.constant([3, 4], tf.int64)
    blended, label = augment.augment_example(image, tf.constant(0.0), seed, ("self_blend",),
                                             ALWAYS)
    assert label.numpy() == 1.0
    changed = np.any(blended.numpy() != image.numpy(), axis=-1)
    assert 0.005 < changed.mean() < 0.9, "a blend touches part of the image, not none or all"
    # The corners lie outside every mask the blend draws: they are the source's own pixels.
    for corner in (changed[:4, :4], changed[:4, -4:], changed[-4:, :4], changed[-4:, -4:]):
        assert not corner.any()
    kept, fake_label = augment.augment_example(image, tf.constant(1.0), seed, ("self_blend",),
                                               ALWAYS)
    np.testing.assert_array_equal(kept.numpy(), image.numpy())
    assert fake_label.numpy() == 1.0


def test_self_blend_is_repeatable_from_its_seed():
    image = tf.constant(textured_rgb(32, 32, seed=4))
    seed = tf.constant([9, 9], tf.int64)
    one = augment.self_blend(image, seed).numpy()
    two = augment.self_blend(image, seed).numpy()
    np.testing.assert_array_equal(one, two)


def test_self_blend_adds_fakes_to_training_batches(tiny_tfds):
    cfg = config(augment=("self_blend",),
                 augmentation=augment.AugmentConfig(self_blend_probability=1.0))
    _, labels = collect(pipeline.build_dataset(str(tiny_tfds / "tfds"), "train", cfg, training=True))
    assert labels.sum() == 48  # every real image became a self-blended fake


def test_data_built_by_another_builder_version_is_named_with_the_fix(tmp_path):
    """After a builder version bump the old build is unreadable: say so, not 'no split'."""
    old = tmp_path / pipeline.DEFAULT_DATASET / "0.9.0"
    old.mkdir(parents=True)
    (old / "dataset_info.json").write_text("{}")
    with pytest.raises(pipeline.SplitError, match=r"--train_split=train: .*built by version 0\.9\.0"
                                              r" of the builder .*rebuild it with tfds build"):
        pipeline.require_splits(str(tmp_path), pipeline.DEFAULT_DATASET, "train_split", ["train"])


def test_a_data_dir_never_built_says_build_it(tmp_path):
    with pytest.raises(pipeline.SplitError, match="none: build it with tfds build"):
        pipeline.require_splits(str(tmp_path), pipeline.DEFAULT_DATASET, "eval_split", ["validation"])
