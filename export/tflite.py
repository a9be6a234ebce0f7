"""Keras model to .tflite: float32, float16 weights, and full-integer int8.

Every file takes one (1, S, S, 3) image of `dfd.common.spec` pixels and returns P(fake). The int8
file takes uint8 pixels directly and returns uint8: a device feeds it the preprocessed
image with no float work at all. Only TFLite builtin ops are allowed: the Pi's interpreter
has no TF Select (Flex) kernels, so a model that would need them fails here, at export,
with the ops named, instead of on the device.
"""

from __future__ import annotations

import re
import tempfile
from typing import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from dfd.common import native_log

PRECISIONS = ("float32", "float16", "int8")


class ExportError(RuntimeError):
    """The model cannot become an artifact the edge runtime can run."""


def _float_saved_model(model: keras.Model, image_size: int, batch: int | None,
                       path: str) -> None:
    """A SavedModel taking `batch` float images (None: any number): the converter's input.

    Converting from a SavedModel freezes Keras 3's variables into constants; converting from
    a concrete function keeps them as resource variables, which int8 calibration then
    cannot read.
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda pixels: {"p_fake": tf.reshape(model(pixels, training=False),
                                             [-1 if batch is None else batch])},
        input_signature=[tf.TensorSpec([batch, image_size, image_size, 3], tf.float32,
                                       name="pixels")])
    archive.write_out(path, verbose=False)


def pinned_input_range(image_size: int) -> list[np.ndarray]:
    """An all-0 and an all-255 image.

    Calibration sets the uint8 input's scale from the smallest and largest pixel it sees; with
    both extremes present the scale is exactly 1 and the zero point 0, so the int8 model's
    input is the preprocessed pixels themselves, with no rounding. Flat images have no
    high-frequency residue, so they do not widen the ranges of the filters that look for it.
    """
    shape = (1, image_size, image_size, 3)
    return [np.zeros(shape, np.float32), np.full(shape, 255.0, np.float32)]


def convert(model: keras.Model, image_size: int, precision: str,
            calibration: Callable[[], Iterable[np.ndarray]] | None = None,
            batch: int | None = 1) -> bytes:
    """The model as .tflite bytes. `calibration` yields (S, S, 3) uint8 images (int8 only).

    `batch` is the input's batch dimension. The shipped files take 1: the device runtime
    judges one image per call, and a fixed shape lets the converter plan every tensor.
    None gives a file whose batch a caller sets with `resize_tensor_input`, with the same
    converter settings (benchmarks/explain.py times batches against the shipped loop).

    The converter is limited to TFLite's builtin ops (the Pi's interpreter has no TF Select
    kernels), so a model needing any other op fails here with the ops named.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    with tempfile.TemporaryDirectory(prefix="dfd-export-") as folder:
        _float_saved_model(model, image_size, batch, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        return _configure_and_convert(converter, model.name, image_size, precision,
                                      calibration)


def _configure_and_convert(converter, name, image_size, precision, calibration) -> bytes:
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if calibration is None:
            raise ValueError("int8 conversion needs calibration images")

        def representative():
            for batch in pinned_input_range(image_size):
                yield [batch]
            for image in calibration():
                yield [np.asarray(image, np.float32)[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    try:
        with native_log.held_stderr():  # the converter echoes its quantization settings
            return converter.convert()
    except Exception as e:  # the converter raises several unrelated types for one cause
        missing = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op",
                                        str(e))))
        if missing:
            raise ExportError(
                f"{name} cannot become a {precision} .tflite: it uses TensorFlow ops that "
                f"TFLite builtins lack ({', '.join(missing)}), and the edge runtime has no "
                f"TF Select kernels; replace them in the model") from None
        raise ExportError(f"{name} cannot be converted to {precision} .tflite: "
                          f"{first_lines(e)}") from None


def first_lines(error: Exception, lines: int = 3) -> str:
    text = str(error).strip().splitlines()
    return " | ".join(line.strip() for line in text[:lines] if line.strip())
