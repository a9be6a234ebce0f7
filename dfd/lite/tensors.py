"""Between pixels and a model's tensors, from the tensors' own quantization parameters.

One place for it, so that the Detector, the golden-vector check and the export that records
golden vectors all feed a model the same tensor for the same pixels: a check that fed its
inputs differently from the classifier would prove nothing about the classifier.
"""

from __future__ import annotations

import numpy as np


def input_batch(pixels: np.ndarray, details: dict) -> np.ndarray:
    """(S, S, 3) uint8 `dfd.common.spec` pixels as a batch of one in the input tensor's type."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return pixels.astype(dtype)[None]
    scale, zero_point = details["quantization"]
    if scale == 1.0 and zero_point == 0 and dtype == np.uint8:
        return pixels[None]
    info = np.iinfo(dtype)
    q = np.round(pixels.astype(np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)[None]


def dequantize(raw: np.ndarray, details: dict) -> np.ndarray:
    """Raw output tensor values as float64 (unchanged for float outputs)."""
    if np.dtype(details["dtype"]).kind == "f":
        return raw.astype(np.float64)
    scale, zero_point = details["quantization"]
    return (raw.astype(np.int64) - zero_point) * np.float64(scale)


def is_integer(details: dict) -> bool:
    """True for a quantized (integer) tensor."""
    return np.dtype(details["dtype"]).kind in "iu"


def run(interpreter, pixels: np.ndarray) -> np.ndarray:
    """The raw (not dequantized) first output for one image, flattened; caller holds any lock."""
    (inp,) = interpreter.get_input_details()
    out = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], input_batch(pixels, inp))
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).reshape(-1).copy()


def classifier_tensors(interpreter) -> tuple[dict, dict]:
    """(input, output) details of a dfd classifier: one (1, S, S, 3) image in, one P(fake)
    out; ValueError saying what the model has instead (the bundle's face detector has two
    outputs, another model anything at all)."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    shapes = [tuple(int(v) for v in d["shape"]) for d in inputs]
    if len(inputs) != 1 or len(shapes[0]) != 4 or shapes[0][0] != 1 or \
            shapes[0][1] != shapes[0][2] or shapes[0][3] != 3:
        raise ValueError(f"takes inputs {shapes}; a dfd classifier takes one (1, S, S, 3) image")
    sizes = [int(np.prod(d["shape"])) for d in outputs]
    if sizes != [1]:
        raise ValueError(f"has outputs {[tuple(int(v) for v in d['shape']) for d in outputs]}; "
                         f"a dfd classifier has one P(fake)")
    return inputs[0], outputs[0]
