"""`--kernels=auto`: XNNPACK kept only when it reproduces the bundle's golden vectors here."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dfd.lite.detector import Detector
from dfd.lite.interpreter import default_threads

pytestmark = pytest.mark.slow
MODELS = ("model_int8.tflite", "model_float32.tflite", "model_float16.tflite")


@pytest.fixture
def bundle(tiny_export, tmp_path):
    """A copy of the device bundle (the .tflite files, model.json, golden_inputs.npy)."""
    for name in (*MODELS, "model.json", "golden_inputs.npy"):
        shutil.copy(tiny_export / name, tmp_path / name)
    return tmp_path


def edit_card(folder, change):
    card = json.loads((folder / "model.json").read_text())
    change(card)
    (folder / "model.json").write_text(json.dumps(card))


@pytest.mark.parametrize("model", MODELS)
def test_auto_keeps_xnnpack_on_x86_after_checking_it(tiny_export, model):
    detector = Detector(str(tiny_export / model))
    assert detector.kernels == "xnnpack"
    check = detector.description["kernel_check"]
    assert check["kernels"] == "xnnpack" and check["check_ms"] > 0
    assert "reproduced all 6 golden vectors" in check["reason"]


def test_a_corrupted_golden_output_forces_builtin_and_says_which(bundle):
    def corrupt(card):
        values = card["golden"]["outputs"]["model_int8.tflite"]["values"]
        values[2][0] += 5 if values[2][0] <= 250 else -5
    edit_card(bundle, corrupt)
    detector = Detector(str(bundle / "model_int8.tflite"))
    assert detector.kernels == "builtin"
    reason = detector.kernel_choice.reason
    assert "XNNPACK failed the golden check" in reason
    assert "golden input 2 (train split image 0)" in reason and "5 quantization steps" in reason
    assert detector.description["kernel_check"]["reason"] == reason
    # the other models' golden outputs are untouched, so they keep XNNPACK
    assert Detector(str(bundle / "model_float32.tflite")).kernels == "xnnpack"


def test_a_corrupted_float_golden_output_forces_builtin(bundle):
    def corrupt(card):
        card["golden"]["outputs"]["model_float32.tflite"]["values"][0][0] += 0.01
    edit_card(bundle, corrupt)
    detector = Detector(str(bundle / "model_float32.tflite"))
    assert detector.kernels == "builtin" and "golden input 0" in detector.kernel_choice.reason


def test_damaged_golden_inputs_force_builtin(bundle):
    data = bytearray((bundle / "golden_inputs.npy").read_bytes())
    data[-1] ^= 0xFF
    (bundle / "golden_inputs.npy").write_bytes(bytes(data))
    detector = Detector(str(bundle / "model_int8.tflite"))
    assert detector.kernels == "builtin"
    assert "golden_inputs.npy does not match its sha256" in detector.kernel_choice.reason


def test_malformed_golden_section_forces_builtin_without_a_traceback(bundle):
    edit_card(bundle, lambda card: card["golden"]["inputs"].pop("sha256"))
    detector = Detector(str(bundle / "model_int8.tflite"))
    assert detector.kernels == "builtin" and "malformed" in detector.kernel_choice.reason


def test_without_golden_vectors_auto_says_so_and_runs_xnnpack(bundle, tmp_path):
    (bundle / "golden_inputs.npy").unlink()
    detector = Detector(str(bundle / "model_int8.tflite"))
    assert detector.kernels == "xnnpack"
    assert "golden_inputs.npy, named by model.json, is not beside the model" in \
        detector.kernel_choice.reason and "unchecked" in detector.kernel_choice.reason
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(bundle / "model_int8.tflite", alone)
    detector = Detector(str(alone / "model_int8.tflite"))
    assert detector.kernels == "xnnpack"
    assert detector.kernel_choice.reason.startswith("no model.json beside the model")
    edit_card(bundle, lambda card: card.pop("golden"))
    assert "model.json has no golden vectors" in Detector(
        str(bundle / "model_float16.tflite")).kernel_choice.reason


def test_forced_kernels_are_not_checked(bundle):
    edit_card(bundle, lambda card: card["golden"]["outputs"]["model_int8.tflite"][
        "values"][0].__setitem__(0, 0))
    for kernels in ("xnnpack", "builtin"):
        detector = Detector(str(bundle / "model_int8.tflite"), kernels=kernels)
        assert detector.kernels == kernels
        assert detector.kernel_choice.reason == f"{kernels} asked for; not checked"
    with pytest.raises(ValueError, match="kernels must be one of"):
        Detector(str(bundle / "model_int8.tflite"), kernels="fast")


def test_builtin_fallback_answers_like_xnnpack(tiny_export, tiny_test_images):
    """The fallback is a slower route to the same answers, not another model."""
    xnnpack = Detector(str(tiny_export / "model_int8.tflite"), kernels="xnnpack")
    builtin = Detector(str(tiny_export / "model_int8.tflite"), kernels="builtin")
    step = builtin._output["quantization"][0]
    for path in sorted(tiny_test_images.rglob("*.jpg")):
        data = path.read_bytes()
        assert abs(xnnpack.classify_bytes(data).p_fake -
                   builtin.classify_bytes(data).p_fake) <= step * 1.0001


CPUS_ALLOWED = """
import os, sys
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
from dfd.lite.detector import Detector
print(Detector(sys.argv[1]).threads)
"""


def test_default_threads_are_the_cores_the_process_may_use(tiny_export):
    assert default_threads() == len(os.sched_getaffinity(0))
    assert Detector(str(tiny_export / "model_int8.tflite")).threads == default_threads()
    out = subprocess.run([sys.executable, "-c", CPUS_ALLOWED,
                          str(tiny_export / "model_int8.tflite")],
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "1"


def test_cli_reports_the_kernel_choice_and_its_reason(bundle, tiny_test_images):
    image = next((tiny_test_images / "Fake").iterdir())
    command = [sys.executable, "-m", "dfd.lite", "classify", str(bundle / "model_int8.tflite"),
               str(image)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    ours = [line for line in out.stderr.splitlines() if line.startswith("dfd-lite: ")]
    assert ours[0].startswith("dfd-lite: xnnpack kernels, "), "first, before any verdict"
    assert "reproduced all 6 golden vectors" in out.stderr
    edit_card(bundle, lambda card: card["golden"]["outputs"]["model_int8.tflite"][
        "values"][0].__setitem__(0, 0))
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1
    first = [line for line in out.stderr.splitlines() if line.startswith("dfd-lite: ")][0]
    assert first.startswith("dfd-lite: builtin kernels, ")
    assert "XNNPACK failed the golden check on this device: golden input 0" in first
    assert np.isfinite(json.loads(out.stdout)["p_fake"])
