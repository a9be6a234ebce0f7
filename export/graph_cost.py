"""Multiply-adds of a .tflite model, counted from its graph: what one image costs a device.

    python -m dfd.export.graph_cost model_int8.tflite [more.tflite ...]

Milliseconds depend on the machine, its kernels and what else runs; multiply-adds do not,
and on cores without int8 dot-product instructions (a Raspberry Pi 4's Cortex-A72) they are
most of the time a convolutional model takes. Counted as the ops are in the file, after the
converter has folded BatchNorm into the convolutions: CONV_2D (output pixels x output
channels x kernel area x input channels), DEPTHWISE_CONV_2D (output pixels x channels x
kernel area) and FULLY_CONNECTED (output values x input features). Everything else (adds,
pooling, activations, quantize) is a few per value and left out, named in `uncounted`.

Reads the file itself, as the FlatBuffer its format is (LiteRT's published `schema.fbs`:
the model's operator codes, its first subgraph's tensors and operators), with neither
TensorFlow nor the interpreter: LiteRT has no public call that lists a graph's operators
with their tensors (its `Interpreter._get_ops_details` is private, and dfd keeps private
framework hooks to those tests/test_framework_hooks.py checks).
"""

from __future__ import annotations

import struct
import sys

import numpy as np

COUNTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
    19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH",
    32: "CUSTOM", 34: "PAD", 36: "GATHER", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV",
    43: "SQUEEZE", 45: "STRIDED_SLICE", 47: "EXP", 49: "SPLIT", 53: "CAST", 54: "PRELU",
    55: "MAXIMUM", 57: "MINIMUM", 60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 74: "SUM",
    75: "SQRT", 76: "RSQRT", 77: "SHAPE", 82: "REDUCE_MAX", 83: "PACK", 98: "LEAKY_RELU",
    99: "SQUARED_DIFFERENCE", 114: "QUANTIZE", 117: "HARD_SWISH", 126: "BATCH_MATMUL"}
"""schema.fbs's BuiltinOperator values of the ops dfd's models use or might; any other is
named BUILTIN_<value> (tests/export/test_graph_cost.py checks these against LiteRT's
generated schema module)."""
IDENTIFIER = b"TFL3"
"""The file identifier a .tflite flatbuffer carries at bytes 4-8."""


class _Table:
    """One FlatBuffer table: its fields by their index in the schema."""

    def __init__(self, data: bytes, position: int):
        self.data, self.position = data, position
        vtable = position - _i32(data, position)
        self.vtable = vtable
        self.vtable_size = _u16(data, vtable)

    def _field(self, index: int) -> int | None:
        entry = 4 + 2 * index
        if entry >= self.vtable_size:
            return None
        offset = _u16(self.data, self.vtable + entry)
        return self.position + offset if offset else None

    def scalar(self, index: int, fmt: str, default=0):
        where = self._field(index)
        return default if where is None else struct.unpack_from("<" + fmt, self.data, where)[0]

    def _target(self, index: int) -> int | None:
        where = self._field(index)
        return None if where is None else where + _u32(self.data, where)

    def ints(self, index: int) -> list[int]:
        start = self._target(index)
        if start is None:
            return []
        length = _u32(self.data, start)
        return list(struct.unpack_from(f"<{length}i", self.data, start + 4))

    def tables(self, index: int) -> list["_Table"]:
        start = self._target(index)
        if start is None:
            return []
        elements = [start + 4 + 4 * i for i in range(_u32(self.data, start))]
        return [_Table(self.data, at + _u32(self.data, at)) for at in elements]

    def string(self, index: int) -> str | None:
        start = self._target(index)
        if start is None:
            return None
        length = _u32(self.data, start)
        return self.data[start + 4:start + 4 + length].decode("utf-8", "replace")


def _u16(data: bytes, at: int) -> int:
    return struct.unpack_from("<H", data, at)[0]


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _i32(data: bytes, at: int) -> int:
    return struct.unpack_from("<i", data, at)[0]


def graph(data: bytes) -> list[tuple[str, list[tuple[int, ...]], list[tuple[int, ...]]]]:
    """[(op name, its input shapes, its output shapes)] of the main subgraph, in order;
    ValueError when `data` is not a .tflite flatbuffer. Schema fields by index: Model
    operator_codes 1, subgraphs 2; OperatorCode deprecated_builtin_code 0 (int8),
    custom_code 1, builtin_code 3 (int32); SubGraph tensors 0, operators 3; Tensor shape 0;
    Operator opcode_index 0, inputs 1, outputs 2 (-1: an optional input left out)."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ValueError("not a .tflite file (no TFL3 identifier)")
    try:
        model = _Table(data, _u32(data, 0))
        codes = []
        for code in model.tables(1):
            value = max(code.scalar(0, "b"), code.scalar(3, "i"))
            name = BUILTIN_NAMES.get(value, f"BUILTIN_{value}")
            codes.append(code.string(1) or name if name == "CUSTOM" else name)
        subgraphs = model.tables(2)
        if not subgraphs:
            raise ValueError("no subgraph")
        main = subgraphs[0]
        shapes = [tuple(t.ints(0)) for t in main.tables(0)]
        return [(codes[op.scalar(0, "I")],
                 [shapes[i] if i >= 0 else () for i in op.ints(1)],
                 [shapes[i] for i in op.ints(2)]) for op in main.tables(3)]
    except (struct.error, IndexError) as e:
        raise ValueError(f"a damaged .tflite file ({e})") from None


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
    with open(model_path, "rb") as f:
        data = f.read()
    by_op, uncounted = {}, set()
    for name, inputs, outputs in graph(data):
        if name not in COUNTED:
            uncounted.add(name)
            continue
        macs = op_macs(name, outputs[0], inputs[1])
        by_op[name] = by_op.get(name, 0) + macs
    return {"macs": sum(by_op.values()), "by_op": by_op, "uncounted": sorted(uncounted)}


def op_names(model_path: str) -> set[str]:
    """The names of the ops the main subgraph of a .tflite file uses."""
    with open(model_path, "rb") as f:
        return {name for name, _, _ in graph(f.read())}


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
