"""`python -m export` on a tiny trained run: the artifacts a server and a device rely on."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_IMAGE_SIZE, encode, textured_rgb
from dfd import checksums, spec
from dfd.lite.detector import Detector
from export import model_card, parity, saved_model, tflite

pytestmark = pytest.mark.slow
TFLITE_FILES = [f"model_{p}.tflite" for p in tflite.PRECISIONS]


def card(export_dir):
    return json.loads((export_dir / spec.MODEL_CARD).read_text())


def test_model_card_describes_and_checksums_every_artifact(tiny_export):
    info = card(tiny_export)
    assert info["labels"] == ["real", "fake"] and info["output"] == "p_fake"
    assert info["preprocessing"] == spec.describe(TINY_IMAGE_SIZE)
    assert info["thresholds"]["default"] == 0.5
    assert 0.0 <= info["thresholds"]["eer_validation"] <= 1.0
    assert info["training"]["dataset"] == "deepfake_real_images"
    assert set(info["training"]["metrics"]) == {"train", "validation", "test"}
    assert set(info["artifacts"]) == {"saved_model", *TFLITE_FILES}
    for name in TFLITE_FILES:
        entry = info["artifacts"][name]
        path = tiny_export / name
        assert entry["sha256"] == checksums.sha256_file(str(path))
        assert entry["bytes"] == path.stat().st_size
    assert info["dfd_version"]


def test_int8_file_takes_uint8_pixels_unchanged_and_returns_uint8(tiny_export):
    detector = Detector(str(tiny_export / "model_int8.tflite"))
    assert detector._input["dtype"] == np.uint8 and detector._output["dtype"] == np.uint8
    scale, zero_point = detector._input["quantization"]
    assert (scale, zero_point) == (1.0, 0), "int8 input must be the spec's pixels as they are"


def test_tflite_files_use_only_builtin_ops(tiny_export):
    for name in TFLITE_FILES:
        ops = tflite.op_names((tiny_export / name).read_bytes())
        assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], (name, ops)


def test_saved_model_cli_lists_both_signatures(tiny_export):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, "show", "--dir", str(tiny_export / "saved_model"), "--all"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "signature_def['serving_default']" in out and "DT_UINT8" in out
    assert "signature_def['serving_bytes']" in out and "DT_STRING" in out
    assert out.count("outputs['p_fake']") == 2


def test_signatures_and_runtime_agree_on_any_image_size(tiny_export):
    """uint8 of any size, encoded bytes and the device runtime: one answer per image."""
    signatures = saved_model.load_signatures(str(tiny_export / "saved_model"))
    images = np.stack([textured_rgb(45, 70, seed=s) for s in (1, 2)])
    encoded = [encode(image, "PNG") for image in images]
    from_images = signatures["serving_default"](images=tf.constant(images))["p_fake"].numpy()
    from_bytes = signatures["serving_bytes"](image_bytes=tf.constant(encoded))["p_fake"].numpy()
    detector = Detector(str(tiny_export / "model_float32.tflite"))
    on_device = [detector.classify_bytes(data).p_fake for data in encoded]
    assert from_images.shape == (2,)
    np.testing.assert_allclose(from_bytes, from_images, atol=1e-6)
    np.testing.assert_allclose(on_device, from_images, atol=1e-5)


def test_parity_report_measures_every_file_on_the_test_split(tiny_export):
    report = json.loads((tiny_export / "parity.json").read_text())
    assert report["split"] == "test" and report["examples"] == 16
    assert set(report["tflite"]) == set(tflite.PRECISIONS)
    assert report["tflite"]["float32"]["max_abs_p_difference"] < 1e-5
    assert report["tflite"]["float32"]["verdict_agreement"] == 1.0
    assert report["tflite"]["float16"]["max_abs_p_difference"] < 1e-2
    for row in report["tflite"].values():
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["verdict_agreement"] <= 1.0
    assert report["bytes_signature_max_abs_p_difference"] < 1e-6


def test_int8_accuracy_gate_fails_with_the_numbers():
    labels = np.array([1, 1, 0, 0] * 25)
    reference = np.where(labels == 1, 0.9, 0.1)
    worse = reference.copy()
    worse[:2] = 0.1  # two of 100 fakes now called real: 2 points lost
    report = parity.report("test", labels, reference, {"int8": worse})
    parity.check_int8(report, 0.02)
    with pytest.raises(parity.ParityError, match=r"2\.00 points below.*allowed: 1\.00"):
        parity.check_int8(report, 0.01)


def test_model_needing_non_builtin_ops_fails_export_naming_the_op():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: tf.math.erfinv(t / 256.0))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="odd")
    with pytest.raises(tflite.ExportError, match=r"odd .*\(Erfinv\).*no TF Select"):
        tflite.convert(model, 8, "float32")


def test_export_of_a_folder_that_is_not_a_run_names_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "export", f"--workdir={tmp_path}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert f"{tmp_path}/config.json is missing" in out.stderr
