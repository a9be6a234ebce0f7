"""Golden vectors for the bundle: fixed inputs and what TFLite's reference kernels answer.

The device checks its fast kernels against these at start-up (`dfd.lite.kernels`). The
inputs mix deterministic synthetic images (noise drives every channel and value, a smooth
one looks like a photo's gradients) with real images of the calibration and test splits,
so that both ranges the int8 model was calibrated for and ranges it was not get checked.
The reference is TFLite's reference kernels, not XNNPACK nor the optimized builtin ones,
so "right" does not depend on any fast kernel.

The tolerance is one quantization step for int8 (1e-4 for float outputs), widened only to
what this machine's own XNNPACK measurably needs: optimized int8 kernels may round each
layer's requantization differently from the reference, and a deep network compounds it
(BUILD_NOTES.md measures it). A faulty kernel is off by tens of steps, not a few.
"""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np

from dfd.lite import tensors
from dfd.lite.interpreter import load_interpreter

INPUTS_FILE = "golden_inputs.npy"
FLOAT_TOLERANCE = 1e-4
"""Absolute P(fake) tolerance for float outputs: XNNPACK and the reference kernels were
measured within 7e-7 of each other; no verdict moves by 1e-4."""
SYNTHETIC_SEED = 20261126


def synthetic_images(size: int) -> list[tuple[str, np.ndarray]]:
    """Deterministic (source, pixels) images: uniform noise and a smooth colour field."""
    rng = np.random.default_rng(SYNTHETIC_SEED)
    noise = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    smooth = np.stack([255 * x, 255 * y, 127.5 + 127.5 * np.sin(6.28 * (x + y))], -1)
    return [(f"synthetic: uniform noise, seed {SYNTHETIC_SEED}", noise),
            ("synthetic: smooth colour field", np.round(smooth).astype(np.uint8))]


def raw_outputs(model_path: str, kernels: str, images: np.ndarray) -> tuple[np.ndarray, bool]:
    """((N, K) raw first-output values of `model_path` on (N, S, S, 3) pixels, whether
    that output is quantized)."""
    interpreter, _ = load_interpreter(model_path, 1, kernels)
    outputs = np.stack([tensors.run(interpreter, image) for image in images])
    return outputs, tensors.is_integer(interpreter.get_output_details()[0])


def entry_for(model_path: str, images: np.ndarray) -> dict:
    """model.json's golden outputs of one .tflite: reference values and the tolerance."""
    reference, integer = raw_outputs(model_path, "reference", images)
    xnnpack, _ = raw_outputs(model_path, "xnnpack", images)
    spread = float(np.max(np.abs(xnnpack.astype(np.float64) - reference.astype(np.float64))))
    if integer:
        return {"values": reference.astype(np.int64).tolist(), "unit": "quantization steps",
                "tolerance": max(1, int(np.ceil(spread))),
                "xnnpack_at_export_max_difference": spread}
    return {"values": reference.astype(np.float64).tolist(), "unit": "absolute",
            "tolerance": max(FLOAT_TOLERANCE, spread),
            "xnnpack_at_export_max_difference": spread}


def record(out: str, model_files: list[str], size: int,
           real: list[tuple[str, np.ndarray]]) -> dict:
    """Writes golden_inputs.npy into `out`; returns model.json's golden section.

    `real` holds (source, (size, size, 3) uint8 pixels) images from the data."""
    sources, images = zip(*(synthetic_images(size) + real))
    pixels = np.stack(images).astype(np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, pixels, allow_pickle=False)
    with open(os.path.join(out, INPUTS_FILE), "wb") as f:
        f.write(buffer.getvalue())
    return {
        "inputs": {"file": INPUTS_FILE, "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
                   "shape": list(pixels.shape), "sources": list(sources)},
        "reference_kernels": "TFLite reference kernels (OpResolverType.BUILTIN_REF)",
        "outputs": {os.path.basename(path): entry_for(path, pixels) for path in model_files},
    }

