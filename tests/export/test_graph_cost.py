"""Multiply-adds counted from .tflite graphs (dfd.export.graph_cost), and the edge student's
promise: int8 with builtin ops only, at most a quarter of EfficientNet-Lite0's multiply-adds."""

import numpy as np
import pytest

from dfd.export import graph_cost


def test_op_macs_follow_tflite_layouts():
    assert graph_cost.op_macs("CONV_2D", (1, 8, 8, 16), (16, 3, 3, 4)) == 8 * 8 * 16 * 9 * 4
    assert graph_cost.op_macs("DEPTHWISE_CONV_2D", (1, 4, 4, 32), (1, 5, 5, 32)) == 4 * 4 * 32 * 25
    assert graph_cost.op_macs("FULLY_CONNECTED", (1, 10), (10, 64)) == 640
    with pytest.raises(ValueError, match="ADD"):
        graph_cost.op_macs("ADD", (1, 4), (4,))


def test_count_matches_a_hand_count(tmp_path):
    """conv 3x3 (3 -> 8 channels) at 16x16, depthwise 3x3 stride 2, dense 8 -> 1."""
    import keras

    from dfd.export.tflite import convert

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.DepthwiseConv2D(3, 2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, keras.layers.Reshape(())(x), name="hand")
    path = tmp_path / "hand.tflite"
    path.write_bytes(convert(model, 16, "float32"))
    cost = graph_cost.count(str(path))
    assert cost["by_op"] == {"CONV_2D": 16 * 16 * 8 * 27, "DEPTHWISE_CONV_2D": 8 * 8 * 8 * 9,
                             "FULLY_CONNECTED": 8}
    assert cost["macs"] == sum(cost["by_op"].values())
    assert "MEAN" in cost["uncounted"]


def test_builtin_names_are_litert_schemas():
    """graph_cost reads the file without LiteRT; its op names are the schema's own."""
    from ai_edge_litert import schema_py_generated as schema

    for value, name in graph_cost.BUILTIN_NAMES.items():
        assert getattr(schema.BuiltinOperator, name) == value, name


def test_the_graph_read_is_the_interpreters(tmp_path):
    """Op by op, the shapes graph_cost reads are the tensors the interpreter allocates."""
    import keras

    from dfd.export.tflite import convert
    from dfd.lite.interpreter import load_interpreter

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu6")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    path = tmp_path / "m.tflite"
    path.write_bytes(convert(model, 16, "float32"))
    ops = graph_cost.graph(path.read_bytes())
    assert [name for name, _, _ in ops][0] == "CONV_2D" and ops[0][2] == [(1, 8, 8, 4)]
    assert ops[0][1][1] == (4, 3, 3, 3)  # the filter (out, kh, kw, in)
    interpreter, _ = load_interpreter(str(path), 1, "builtin")
    allocated = {tuple(t["shape"]) for t in interpreter.get_tensor_details()}
    assert all(shape in allocated for _, ins, outs in ops for shape in ins + outs if shape)


def test_main_names_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    assert graph_cost.main([str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
    cut = tmp_path / "cut.tflite"  # a real file's first bytes: the identifier, then nothing
    cut.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 8)
    assert graph_cost.main([str(cut)]) == 2
    assert "damaged" in capsys.readouterr().err


@pytest.mark.long
@pytest.mark.slow
def test_edge_student_is_builtin_int8_at_a_quarter_of_lite0s_macs(tmp_path):
    from dfd.export.tflite import convert
    from dfd.train import models

    rng = np.random.default_rng(0)

    def calibration():
        for _ in range(8):
            yield rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)

    student = convert(models.build("edgenet", 128), 128, "int8", calibration)
    (tmp_path / "edgenet.tflite").write_bytes(student)
    assert graph_cost.op_names(str(tmp_path / "edgenet.tflite")) <= {
        "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "LOGISTIC", "MUL",
        "QUANTIZE", "RESHAPE"}
    (tmp_path / "lite0.tflite").write_bytes(
        convert(models.build("efficientnet_lite0", 128), 128, "float32"))
    student_macs = graph_cost.count(str(tmp_path / "edgenet.tflite"))["macs"]
    lite0_macs = graph_cost.count(str(tmp_path / "lite0.tflite"))["macs"]
    assert 100e6 < lite0_macs < 150e6  # EfficientNet-Lite0's published 407M at 224, scaled
    assert student_macs <= lite0_macs / 4
