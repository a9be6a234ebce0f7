"""Training and the edge runtime must hand the model the very same tensor for one image."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import encode, jpeg_bytes, textured_rgb
from dfd.common import preprocess
from dfd.lite import imageio
from dfd.train import pipeline


def training_tensor(encoded: bytes, size: int) -> np.ndarray:
    return pipeline.preprocess_image(pipeline.decode(tf.constant(encoded)), size).numpy()


def runtime_tensor(encoded: bytes, size: int) -> np.ndarray:
    """The runtime's tensor, the same whether sampled from the decoded Pillow image in its
    own mode (what the Detector does, never making a full-size array) or from a full
    uint8 RGB array."""
    from_image = preprocess.preprocess(imageio.open_image(encoded), size)
    np.testing.assert_array_equal(from_image,
                                  preprocess.preprocess(imageio.decode_rgb(encoded), size))
    return from_image


@pytest.mark.parametrize("height,width", [(256, 256), (218, 178), (160, 160), (100, 300),
                                          (64, 64), (333, 517), (90, 91)])
@pytest.mark.parametrize("size", [96, 128, 224])
def test_same_tensor_for_the_same_jpeg(height, width, size):
    encoded = jpeg_bytes(height, width, seed=height + width, quality=85)
    np.testing.assert_array_equal(training_tensor(encoded, size), runtime_tensor(encoded, size))


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_same_tensor_for_every_chroma_subsampling(subsampling):
    encoded = encode(textured_rgb(200, 150, seed=5), "JPEG", quality=90, subsampling=subsampling)
    np.testing.assert_array_equal(training_tensor(encoded, 128), runtime_tensor(encoded, 128))


def test_same_tensor_for_png():
    encoded = encode(textured_rgb(77, 120, seed=9), "PNG")
    np.testing.assert_array_equal(training_tensor(encoded, 64), runtime_tensor(encoded, 64))


def test_pipeline_batches_equal_runtime_tensors_on_the_built_split(tiny_tfds):
    """End to end: the eval pipeline's tensors vs the runtime on the stored source bytes."""
    builder = tfds.builder("deepfake_real_images", data_dir=str(tiny_tfds / "tfds"))
    raw = builder.as_dataset("test", shuffle_files=False,
                             decoders={"image": tfds.decode.SkipDecoding()})
    expected = np.stack([runtime_tensor(ex["image"], 48) for ex in tfds.as_numpy(raw)])
    cfg = pipeline.PipelineConfig(image_size=48, batch_size=64, augment=(), deterministic=True)
    images, _ = next(iter(pipeline.build_dataset(str(tiny_tfds / "tfds"), "test", cfg,
                                             training=False)))
    np.testing.assert_array_equal(images.numpy(), expected)
