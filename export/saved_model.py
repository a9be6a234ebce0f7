"""The SavedModel for TF Serving: two signatures over one Keras model.

`serving_default` takes a uint8 batch [N, H, W, 3] of any H and W, `serving_bytes` a batch of
encoded JPEG/PNG strings [N]; both preprocess inside the graph with the very ops training
used (`dfd.train.pipeline`), so a client sends pictures, not tensors it has to prepare the dfd way.
Both return {"p_fake": float32 [N]}.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dfd.train import pipeline

IMAGES_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"


def write_saved_model(model: keras.Model, image_size: int, path: str) -> None:
    def p_fake(pixels):
        return {"p_fake": tf.reshape(model(tf.cast(pixels, tf.float32), training=False), [-1])}

    def from_images(images):
        return p_fake(pipeline.preprocess_image(images, image_size))

    def from_bytes(image_bytes):
        pixels = tf.map_fn(lambda encoded: pipeline.preprocess_image(pipeline.decode(encoded), image_size),
                           image_bytes,
                           fn_output_signature=tf.TensorSpec([image_size, image_size, 3],
                                                             tf.uint8))
        return p_fake(pixels)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(IMAGES_SIGNATURE, from_images, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    archive.add_endpoint(BYTES_SIGNATURE, from_bytes, input_signature=[
        tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.write_out(path, verbose=False)


def load_signatures(path: str) -> dict:
    """{signature name: concrete function} of a written SavedModel."""
    loaded = tf.saved_model.load(path)
    return {name: loaded.signatures[name] for name in (IMAGES_SIGNATURE, BYTES_SIGNATURE)}
