"""`tflite.convert` with an open batch dimension: the one converter behind the shipped files
and the explain benchmark's batched ones, so a batch answers as the single-image file does."""

import keras
import numpy as np
import pytest

from dfd.export import tflite
from dfd.lite.interpreter import load_interpreter

pytestmark = pytest.mark.slow
SIZE = 8


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="small")


def raw_outputs(path, images: np.ndarray, batch: int) -> np.ndarray:
    interpreter, _ = load_interpreter(str(path), 1, "builtin")
    (inp,) = interpreter.get_input_details()
    if batch != 1:
        interpreter.resize_tensor_input(inp["index"], [batch, SIZE, SIZE, 3], strict=True)
        interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]
    answers = []
    for start in range(0, len(images), batch):
        interpreter.set_tensor(inp["index"], images[start:start + batch].astype(inp["dtype"]))
        interpreter.invoke()
        answers.append(interpreter.get_tensor(out["index"]).reshape(-1).copy())
    return np.concatenate(answers)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_a_file_of_any_batch_answers_each_image_as_the_single_image_file(model, precision,
                                                                        tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (6, SIZE, SIZE, 3), np.uint8)
    calibration = lambda: iter(images)  # noqa: E731
    single, open_batch = tmp_path / "single.tflite", tmp_path / "any.tflite"
    single.write_bytes(tflite.convert(model, SIZE, precision, calibration))
    open_batch.write_bytes(tflite.convert(model, SIZE, precision, calibration, batch=None))
    one, _ = load_interpreter(str(single), 1, "builtin")
    assert list(one.get_input_details()[0]["shape_signature"]) == [1, SIZE, SIZE, 3]
    anyb, _ = load_interpreter(str(open_batch), 1, "builtin")
    assert list(anyb.get_input_details()[0]["shape_signature"]) == [-1, SIZE, SIZE, 3]
    looped = raw_outputs(single, images, 1)
    np.testing.assert_array_equal(raw_outputs(open_batch, images, 1), looped)
    np.testing.assert_allclose(raw_outputs(open_batch, images, 3).astype(np.float64), looped,
                               atol=1 if precision == "int8" else 1e-6)
