"""Multiply-adds of a .tflite model, counted from its graph: what one image costs a device.

    python -m dfd.export.graph_cost model_int8.tflite [more.tflite ...]

Milliseconds depend on the machine, its kernels and what else runs; multiply-adds do not,
and on cores without int8 dot-product instructions (a Raspberry Pi 4's Cortex-A72) they are
most of the time a convolutional model takes. Counted as the ops are in the file, after the
converter has folded BatchNorm into the convolutions: CONV_2D (output pixels x output
channels x kernel area x input channels), DEPTHWISE_CONV_2D (output pixels x channels x
kernel area) and FULLY_CONNECTED (output values x input features). Everything else (adds,
pooling, activations, quantize) is a few per value and left out, named in `uncounted`.

Reads the file with the LiteRT interpreter (dfd.lite's), without TensorFlow.
"""

from __future__ import annotations

import sys

import numpy as np

COUNTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def op_macs(op_name: str, output_shape, filter_shape) -> int:
    """Multiply-adds of one op from its output's and its weights' shapes (TFLite layouts:
    conv filter (out, kh, kw, in), depthwise (1, kh, kw, out), dense (units, in))."""
    output = int(np.prod(output_shape))
    if op_name == "CONV_2D":
        _, kh, kw, channels_in = filter_shape
        return output * kh * kw * channels_in
    if op_name == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = filter_shape
        return output * kh * kw
    if op_name == "FULLY_CONNECTED":
        return output * int(filter_shape[-1])
    raise ValueError(f"no multiply-add count for {op_name}")


def count(model_path: str) -> dict:
    """{"macs": total, "by_op": {op: macs}, "uncounted": sorted op names} of a .tflite file."""
    from dfd.lite.interpreter import load_interpreter

    interpreter, _ = load_interpreter(model_path, 1, "builtin")
    shapes = {t["index"]: tuple(int(d) for d in t["shape"])
              for t in interpreter.get_tensor_details()}
    by_op, uncounted = {}, set()
    for op in interpreter._get_ops_details():  # the only API listing ops with their tensors
        name = op["op_name"]
        if name not in COUNTED:
            uncounted.add(name)
            continue
        macs = op_macs(name, shapes[op["outputs"][0]], shapes[op["inputs"][1]])
        by_op[name] = by_op.get(name, 0) + macs
    return {"macs": sum(by_op.values()), "by_op": by_op, "uncounted": sorted(uncounted)}


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m dfd.export.graph_cost MODEL.tflite [...]", file=sys.stderr)
        return 2
    for path in argv:
        try:
            cost = count(path)
        except (OSError, ValueError) as e:
            print(f"dfd.export.graph_cost: {path}: {e}", file=sys.stderr)
            return 2
        parts = "  ".join(f"{op} {macs / 1e6:.2f}M" for op, macs in sorted(cost["by_op"].items()))
        print(f"{path}: {cost['macs'] / 1e6:.2f}M multiply-adds ({parts})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
