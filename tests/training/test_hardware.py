"""Strategy and precision choices, decided from what the machine has."""

import json

import keras
import numpy as np
import pytest

from dfd.train import hardware, loss_scaling, models


@pytest.mark.parametrize("flag,gpus,workers,expected", [
    ("auto", 0, 0, "default"), ("auto", 1, 0, "default"), ("auto", 4, 0, "mirrored"),
    ("auto", 0, 2, "multi_worker"), ("auto", 8, 3, "multi_worker"),
    ("default", 4, 0, "default"), ("mirrored", 0, 0, "mirrored"),
])
def test_strategy_choice(flag, gpus, workers, expected):
    assert hardware.choose_strategy(flag, gpus, workers) == expected


@pytest.mark.parametrize("flag,caps,expected", [
    ("auto", [], "float32"), ("auto", [(6, 1)], "float32"), ("auto", [(7, 0)], "mixed_float16"),
    ("auto", [(7, 5), (7, 0)], "mixed_float16"), ("auto", [(8, 0)], "mixed_bfloat16"),
    ("auto", [(9, 0), (8, 6)], "mixed_bfloat16"), ("auto", [(9, 0), (7, 5)], "mixed_float16"),
    ("auto", [(8, 0), (6, 0)], "float32"), ("on", [], "mixed_float16"),
    ("off", [(9, 0)], "float32"), ("mixed_bfloat16", [], "mixed_bfloat16"),
    ("mixed_float16", [(9, 0)], "mixed_float16"), ("float32", [(9, 0)], "float32"),
])
def test_precision_choice(flag, caps, expected):
    assert hardware.choose_precision(flag, caps) == expected


def test_tf_config_worker_count():
    cluster = {"cluster": {"worker": ["a:1", "b:2"], "chief": ["c:3"]}, "task": {}}
    assert hardware.tf_config_workers({"TF_CONFIG": json.dumps(cluster)}) == 3
    assert hardware.tf_config_workers({}) == 0
    with pytest.raises(ValueError, match="TF_CONFIG"):
        hardware.tf_config_workers({"TF_CONFIG": "{not json"})


@pytest.mark.parametrize("policy,compute", [("mixed_float16", "float16"),
                                            ("mixed_bfloat16", "bfloat16")])
@pytest.mark.parametrize("name", models.names())
def test_mixed_precision_model_keeps_a_float32_output(name, policy, compute):
    hardware.apply_precision(policy)
    try:
        model = models.build(name, 64)
        assert model.layers[-1].dtype_policy.compute_dtype == "float32"
        assert any(layer.dtype_policy.compute_dtype == compute for layer in model.layers)
        assert all(w.dtype == "float32" for w in model.weights)  # what export copies
        out = model(np.zeros((2, 64, 64, 3), np.float32))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        hardware.apply_precision("float32")
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize("policy,scaled", [("mixed_float16", True), ("mixed_bfloat16", False),
                                           ("float32", False)])
def test_only_float16_is_loss_scaled(policy, scaled):
    """bfloat16 has float32's exponent range: its gradients do not underflow unscaled."""
    optimizer = loss_scaling.wrap(keras.optimizers.SGD(0.1), policy)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled


def test_input_position_numbers_the_chief_first():
    cluster = {"chief": ["c:1"], "worker": ["a:2", "b:3"]}
    assert hardware.input_position(cluster, "chief", 0) == (0, 3)
    assert hardware.input_position(cluster, "worker", 1) == (2, 3)
    assert hardware.input_position({"worker": ["a:2", "b:3"]}, "worker", 0) == (0, 2)
    assert hardware.input_position(cluster, "evaluator", 0) == (0, 1)
