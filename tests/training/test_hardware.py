"""Strategy and precision choices, decided from what the machine has."""

import json

import keras
import numpy as np
import pytest

from dfd.train import hardware, models


@pytest.mark.parametrize("flag,gpus,workers,expected", [
    ("auto", 0, 0, "default"), ("auto", 1, 0, "default"), ("auto", 4, 0, "mirrored"),
    ("auto", 0, 2, "multi_worker"), ("auto", 8, 3, "multi_worker"),
    ("default", 4, 0, "default"), ("mirrored", 0, 0, "mirrored"),
])
def test_strategy_choice(flag, gpus, workers, expected):
    assert hardware.choose_strategy(flag, gpus, workers) == expected


@pytest.mark.parametrize("flag,caps,expected", [
    ("auto", [], "float32"), ("auto", [(6, 1)], "float32"), ("auto", [(7, 0)], "mixed_float16"),
    ("auto", [(8, 0), (6, 0)], "float32"), ("on", [], "mixed_float16"),
    ("off", [(9, 0)], "float32"),
])
def test_precision_choice(flag, caps, expected):
    assert hardware.choose_precision(flag, caps) == expected


def test_tf_config_worker_count():
    cluster = {"cluster": {"worker": ["a:1", "b:2"], "chief": ["c:3"]}, "task": {}}
    assert hardware.tf_config_workers({"TF_CONFIG": json.dumps(cluster)}) == 3
    assert hardware.tf_config_workers({}) == 0
    with pytest.raises(ValueError, match="TF_CONFIG"):
        hardware.tf_config_workers({"TF_CONFIG": "{not json"})


@pytest.mark.parametrize("name", models.names())
def test_mixed_precision_model_keeps_a_float32_output(name):
    hardware.apply_precision("mixed_float16")
    try:
        model = models.build(name, 64)
        assert model.layers[-1].dtype_policy.compute_dtype == "float32"
        assert any(layer.dtype_policy.compute_dtype == "float16" for layer in model.layers)
        out = model(np.zeros((2, 64, 64, 3), np.float32))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        hardware.apply_precision("float32")
    assert keras.mixed_precision.global_policy().name == "float32"
