"""`python -m dfd.export` on a tiny trained run: the artifacts a server and a device rely on."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_IMAGE_SIZE, encode, run_module, textured_rgb
from dfd.common import checksums, metrics, spec
from dfd.train import models
from dfd.lite import tensors
from dfd.lite.detector import Detector
from dfd.lite.interpreter import load_interpreter
from dfd.export import model_card, parity, saved_model, tflite

pytestmark = pytest.mark.slow
TFLITE_FILES = [f"model_{p}.tflite" for p in tflite.PRECISIONS]


def card(export_dir):
    return json.loads((export_dir / spec.MODEL_CARD).read_text())


def test_model_card_describes_and_checksums_every_artifact(tiny_export):
    info = card(tiny_export)
    assert info["labels"] == ["real", "fake"] and info["output"] == "p_fake"
    assert info["preprocessing"] == spec.describe(TINY_IMAGE_SIZE)
    assert "thresholds" not in info, "thresholds are per artifact: each has its own P(fake)"
    raw = info["artifacts"]["saved_model"]["thresholds"]
    assert raw["default"] == 0.5 and 0.0 <= raw["eer_validation"] <= 1.0
    assert info["training"]["dataset"] == "deepfake_real_images"
    assert set(info["training"]["metrics"]) == {"train", "validation", "test"}
    assert set(info["artifacts"]) == {"saved_model", *TFLITE_FILES}
    for name in TFLITE_FILES:
        entry = info["artifacts"][name]
        path = tiny_export / name
        assert entry["sha256"] == checksums.sha256_file(str(path))
        assert entry["bytes"] == path.stat().st_size
    assert info["dfd_version"]
    assert info["artifacts"]["saved_model"]["sha256"] == shell_tree_digest(
        tiny_export / "saved_model")


def shell_tree_digest(folder):
    """The SavedModel digest as model.json's sha256_of tells a person to compute it."""
    script = ("cd \"$1\" && find . -type f -printf '%P\\n' | LC_ALL=C sort "
              "| xargs sha256sum | sha256sum")
    out = subprocess.run(["bash", "-c", script, "_", str(folder)], capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.split()[0]


def test_folder_digest_covers_every_file_and_path(tmp_path):
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights")
    first = checksums.sha256_tree(str(tmp_path))
    assert first == shell_tree_digest(tmp_path)
    (tmp_path / "variables" / "variables.data-00000-of-00001").write_bytes(b"weightz")
    second = checksums.sha256_tree(str(tmp_path))
    (tmp_path / "variables" / "variables.data-00000-of-00001").rename(tmp_path / "variables" / "v")
    third = checksums.sha256_tree(str(tmp_path))
    (tmp_path / "fingerprint.pb").write_bytes(b"")
    fourth = checksums.sha256_tree(str(tmp_path))
    assert len({first, second, third, fourth}) == 4
    assert fourth == shell_tree_digest(tmp_path)


def test_int8_file_takes_uint8_pixels_unchanged_and_returns_uint8(tiny_export):
    detector = Detector(str(tiny_export / "model_int8.tflite"))
    assert detector._input["dtype"] == np.uint8 and detector._output["dtype"] == np.uint8
    scale, zero_point = detector._input["quantization"]
    assert (scale, zero_point) == (1.0, 0), "int8 input must be the spec's pixels as they are"


def test_golden_vectors_are_the_reference_kernels_answers_on_fixed_inputs(tiny_export):
    """What a device checks its kernels against: fixed pixels, TFLite's reference answers."""
    info = card(tiny_export)["golden"]
    path = tiny_export / info["inputs"]["file"]
    assert info["inputs"]["sha256"] == checksums.sha256_file(str(path))
    pixels = np.load(path, allow_pickle=False)
    assert pixels.shape == (6, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3) and pixels.dtype == np.uint8
    sources = info["inputs"]["sources"]
    assert [s.split(":")[0].split(" split")[0] for s in sources] == \
        ["synthetic", "synthetic", "train", "train", "test", "test"]
    assert len({image.tobytes() for image in pixels}) == 6, "six different images"
    assert set(info["outputs"]) == set(TFLITE_FILES)
    for name in TFLITE_FILES:
        entry = info["outputs"][name]
        reference, _ = load_interpreter(str(tiny_export / name), 1, "reference")
        expected = np.stack([tensors.run(reference, image) for image in pixels])
        np.testing.assert_array_equal(np.array(entry["values"]), expected)
        if name == "model_int8.tflite":
            assert entry["unit"] == "quantization steps" and entry["tolerance"] == 1
            assert all(isinstance(v, int) for row in entry["values"] for v in row)
        else:
            assert entry["unit"] == "absolute" and entry["tolerance"] == 1e-4


def test_golden_inputs_are_recorded_again_identically(tiny_export, tmp_path):
    """Deterministic: the synthetic images do not depend on the run or the machine."""
    from dfd.export import golden
    first = golden.synthetic_images(TINY_IMAGE_SIZE)
    second = golden.synthetic_images(TINY_IMAGE_SIZE)
    assert [s for s, _ in first] == [s for s, _ in second]
    for (_, a), (_, b) in zip(first, second):
        np.testing.assert_array_equal(a, b)
    stored = np.load(tiny_export / "golden_inputs.npy")
    np.testing.assert_array_equal(stored[:2], np.stack([image for _, image in first]))


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
    on_device = [detector.classify_bytes(data).p_fake_raw for data in encoded]
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


def int8_round(scores):
    """What the int8 file's uint8 output does to a score: steps of 1/256."""
    return np.round(np.asarray(scores) * 256) / 256


def test_near_chance_model_passes_the_gate_that_accuracy_at_half_failed():
    """Both classes scored alike around 0.5 (AUC 0.5); int8 rounding lifts 30 reals at
    0.499 onto 0.5, costing 3 accuracy points, the old gate's failure. Nothing is broken:
    the ranking is the same and no confidently scored image exists to flip."""
    labels = np.array([1] * 500 + [0] * 500)
    reference = np.r_[np.linspace(0.45, 0.55, 500), np.linspace(0.45, 0.55, 500)]
    reference[500:530] = 0.499
    report = parity.report("test", labels, reference, {"int8": int8_round(reference)})
    accuracy_drop = report["saved_model"]["accuracy"] - report["tflite"]["int8"]["accuracy"]
    assert accuracy_drop > 0.01
    verdict = parity.judge_int8(report, parity.Int8Gate())
    assert verdict["passed"], verdict["failures"]
    assert verdict["confident_examples"] == 0 and abs(verdict["auc_drop"]) < 0.01
    parity.check_int8(verdict)


@pytest.mark.long
def test_untrained_model_exports_through_the_default_gate(tiny_tfds, tmp_path):
    """An untrained dfdnet is a near-chance model: the default int8 gate lets it export."""
    run = tmp_path / "run"
    run.mkdir()
    keras.utils.set_random_seed(0)
    models.build("dfdnet", TINY_IMAGE_SIZE).save(run / "best.keras")
    (run / "config.json").write_text(json.dumps({
        "data_dir": str(tiny_tfds / "tfds"), "dataset": "deepfake_real_images",
        "model": "dfdnet", "image_size": TINY_IMAGE_SIZE, "batch_size": 8,
        "train_split": "train", "eval_split": "validation"}))
    run_module("dfd.export", f"--workdir={run}", f"--out={tmp_path / 'export'}",
               "--calibration_examples=24")
    report = json.loads((tmp_path / "export" / "parity.json").read_text())
    assert 0.2 < report["saved_model"]["auc"] < 0.8, "not a near-chance model"
    assert report["int8_gate"]["passed"] is True


def texture_detector(size=16):
    """A hand-set detector that calls a textured image fake: a Laplacian high-pass (both
    signs), its mean energy, and a sigmoid head that `set_head_sharpness` centres."""
    inputs = keras.Input((size, size, 3))
    laplacian = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32) / 255.0
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[:, :, :, 0], kernel[:, :, :, 1] = laplacian[..., None], -laplacian[..., None]
    energy = keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(2, 3, use_bias=False, activation="relu", name="high_pass")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="head")(energy))
    model.get_layer("high_pass").set_weights([kernel])
    return model, keras.Model(inputs, energy)


def texture_images(examples, rng, size=16):
    """Flat colours plus noise: strong noise = fake (label 1), faint noise = real."""
    labels = np.tile([1, 0], examples // 2)
    amplitude = np.where(labels == 1, rng.uniform(12, 40, examples), rng.uniform(0, 10, examples))
    noise = amplitude[:, None, None, None] * rng.standard_normal((examples, size, size, 3))
    base = rng.integers(60, 200, (examples, 1, 1, 3))
    return np.clip(base + noise, 0, 255).round().astype(np.uint8), labels


def set_head_sharpness(model, energy, images, sharpness: float) -> None:
    """P(fake) = sigmoid(sharpness * (energy / median energy of `images` - 1)): the median
    image at 0.5, and `sharpness` how sure the detector is away from it."""
    median = np.median(energy(images.astype(np.float32)).numpy().sum(axis=1))
    model.get_layer("head").set_weights([np.full((2, 1), sharpness / median, np.float32),
                                         np.array([-sharpness], np.float32)])


def test_int8_calibrated_on_blank_images_fails_the_gate(tmp_path):
    """A real broken quantization: calibrated on blank images, the int8 file never sees the
    high-pass energy it must rank by. Calibrated on real images, the same model passes."""
    rng = np.random.default_rng(0)
    model, energy = texture_detector()
    calibration, _ = texture_images(64, rng)
    images, labels = texture_images(200, rng)
    set_head_sharpness(model, energy, images, 20.0)
    reference = model(images.astype(np.float32)).numpy().reshape(-1).astype(np.float64)
    assert metrics.roc_auc(labels, reference) > 0.99
    verdicts, kernels = {}, {}
    for name, calibrate in (("real", lambda: iter(calibration)),
                            ("blank", lambda: iter(np.zeros_like(calibration)))):
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(tflite.convert(model, 16, "int8", calibrate))
        detector = Detector(str(path))
        kernels[name] = detector.kernel_choice
        int8 = np.array([detector.p_fake_pixels(image) for image in images], np.float64)
        report = parity.report("test", labels, reference, {"int8": int8})
        verdicts[name] = parity.judge_int8(report, parity.Int8Gate())
    # XNNPACK refuses to prepare the blank-calibrated file; auto falls back and says so
    assert kernels["real"].kernels == "xnnpack"
    assert kernels["blank"].kernels == "builtin"
    assert "XNNPACK cannot run this model" in kernels["blank"].reason
    assert verdicts["real"]["passed"], verdicts["real"]["failures"]
    assert not verdicts["blank"]["passed"]
    assert verdicts["blank"]["auc_drop"] > 0.3
    blank = verdicts["blank"]
    assert blank["confident_verdict_flips"] > blank["allowed_confident_flips"]


def good_detector(examples, seed=0, noise=0.12):
    rng = np.random.default_rng(seed)
    labels = np.tile([1, 0], examples // 2)
    reference = np.clip(np.where(labels == 1, 0.8, 0.2) + rng.normal(0, noise, examples),
                        0.001, 0.999)
    return labels, reference, rng


def test_quantization_that_wrecks_the_ranking_fails_on_auc():
    labels, reference, rng = good_detector(400)
    scrambled = rng.permutation(reference)
    report = parity.report("test", labels, reference, {"int8": scrambled})
    verdict = parity.judge_int8(report, parity.Int8Gate())
    assert not verdict["passed"] and verdict["auc_drop"] > 0.3
    with pytest.raises(parity.ParityError, match=r"int8 AUC 0\.\d+ is 0\.\d+ below"):
        parity.check_int8(verdict)


def test_quantization_that_keeps_the_ranking_but_flips_confident_verdicts_fails():
    """Halving every score keeps the AUC exactly and the accuracy near 0.5 of a coin: only
    the confident-verdict check sees the fakes it turned real."""
    labels, reference, _ = good_detector(400)
    report = parity.report("test", labels, reference, {"int8": reference / 2})
    verdict = parity.judge_int8(report, parity.Int8Gate())
    assert verdict["auc_drop"] == 0.0
    assert verdict["confident_verdict_flips"] > verdict["allowed_confident_flips"]
    with pytest.raises(parity.ParityError, match=r"flips the verdict on \d+ of the \d+ images"):
        parity.check_int8(verdict)


def test_auc_tolerance_knows_the_split_size():
    """The same 0.05 AUC loss of a fair detector (AUC about 0.85) is noise on 40 images
    and a defect on 4000."""
    for examples, passes in ((40, True), (4000, False)):
        labels, reference, _ = good_detector(examples, seed=3, noise=0.35)
        report = parity.report("test", labels, reference, {"int8": reference})
        report["tflite"]["int8"]["auc"] = report["saved_model"]["auc"] - 0.05
        assert parity.judge_int8(report, parity.Int8Gate())["passed"] is passes, examples


def test_auc_standard_error_is_hanley_and_mcneils():
    # Hanley & McNeil (1982), Table 2: AUC 0.9 on 50 + 50 images has a standard error 0.0321.
    assert parity.auc_standard_error(0.9, 50, 50) == pytest.approx(0.0321, abs=5e-4)
    assert parity.auc_standard_error(1.0, 50, 50) == 0.0


@pytest.mark.parametrize("examples", [0, 1, 3, 10, 50, 300, 2000])
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.03])
def test_allowed_flips_is_the_binomial_critical_count(examples, rate):
    """Checked against the binomial tail summed with exact integer binomial coefficients."""
    import math
    from fractions import Fraction

    def tail(k):  # P(X >= k)
        r = Fraction(rate).limit_denominator(1000)
        return sum(math.comb(examples, i) * r ** i * (1 - r) ** (examples - i)
                   for i in range(k, examples + 1))

    allowed = parity.allowed_flips(examples, rate)
    assert 0 <= allowed <= examples
    if allowed:
        assert tail(allowed) >= parity.SIGNIFICANCE
    if allowed < examples:
        assert tail(allowed + 1) < parity.SIGNIFICANCE


def test_parity_json_records_the_int8_gate(tiny_export):
    report = json.loads((tiny_export / "parity.json").read_text())
    gate = report["int8_gate"]
    assert gate["passed"] is True and gate["failures"] == []
    row = report["tflite"]["int8"]
    assert gate["confident_verdict_flips"] == row["confident_verdict_flips"]
    assert gate["confident_examples"] == row["confident_examples"] <= report["examples"]
    assert gate["allowed_auc_drop"] >= gate["max_auc_drop"] == 0.01
    assert report["fakes"] + report["reals"] == report["examples"] == 16


def test_model_needing_non_builtin_ops_fails_export_naming_the_op():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: tf.math.erfinv(t / 256.0))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="odd")
    with pytest.raises(tflite.ExportError, match=r"odd .*\(Erfinv\).*no TF Select"):
        tflite.convert(model, 8, "float32")


def test_export_of_a_folder_that_is_not_a_run_names_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dfd.export", f"--workdir={tmp_path}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert f"{tmp_path}/config.json is missing" in out.stderr


def test_bundle_reports_robustness_of_each_device_file_on_the_same_images(tiny_export):
    """float32 and int8 are judged on the same degraded images, as a device runs them."""
    from dfd.evaluate import robustness
    report = json.loads((tiny_export / "robustness.json").read_text())
    assert set(report["tflite"]) == {"float32", "int8"}
    for entry in report["tflite"].values():
        assert entry["examples"] == 16  # the generated test split: 8 fake, 8 real
        assert set(entry["degradations"]) == set(robustness.SUITES[report["suite"]])
    assert (tiny_export / "robustness.png").stat().st_size > 0


def test_model_card_carries_the_face_detector_as_installed(tiny_export):
    from dfd.lite.faces import settings
    from dfd.export import face_detector

    entry = card(tiny_export)["face_detector"]
    source, version = face_detector.locate("full_range")
    copied = tiny_export / entry["file"]
    assert copied.read_bytes() == pathlib.Path(source).read_bytes()
    assert entry["sha256"] == checksums.sha256_file(str(copied))
    assert entry["bytes"] == copied.stat().st_size
    assert {k: entry[k] for k in ("anchors", "decoding", "nms", "input_size", "variant")} == {
        k: v for k, v in settings.describe("full_range").items() if k != "input"}
    assert version in entry["source"] and "Apache-2.0" in entry["source"]


def test_a_missing_face_detector_package_is_named_with_the_fix(monkeypatch, tmp_path):
    from dfd.lite.faces import settings
    from dfd.export import face_detector

    monkeypatch.setattr(settings, "PACKAGE", "dfd-no-such-face-package")
    with pytest.raises(face_detector.FaceDetectorError, match=r"dfd\[train\].*none"):
        face_detector.bundle("full_range", str(tmp_path))
    assert face_detector.bundle("none", str(tmp_path)) is None
    assert not list(tmp_path.iterdir())


def calibration_entry(export_dir, name):
    return card(export_dir)["artifacts"][name]


def test_each_tflite_is_calibrated_on_validation_with_its_own_thresholds_and_band(tiny_export):
    info = card(tiny_export)
    for name in TFLITE_FILES:
        entry = info["artifacts"][name]
        fit = entry["p_fake_calibration"]
        assert fit["fitted_on"] == ["validation"] and fit["examples"] == 16
        assert (fit["fakes"], fit["reals"]) == (8, 8)
        assert fit["method"] in ("platt", "none")
        assert fit["clip"] == (1 / 512 if name == "model_int8.tflite" else 1e-7)
        pair = fit["figures"]["validation"]
        assert pair["before"]["examples"] == pair["after"]["examples"] == 16
        assert set(entry["thresholds"]) == {"default", "eer_validation", "fpr_1pct"}
        assert entry["thresholds"]["default"] == 0.5
        meanings = entry["threshold_meanings"]
        assert meanings["fpr_1pct"]["validation"]["false_positive_rate"] == 0.0, \
            "1% of 8 reals is none of them"
        band = entry["uncertain"]
        assert 0 <= band["low"] <= 0.5 <= band["high"] <= 1
        assert band["coverage"] <= 2 / 16 and band["coverage_target"] == 0.1
        assert band["chosen_on"] == ["validation"] and "uncertain when" in band["means"]
    assert "p_fake_calibration" not in info["artifacts"]["saved_model"]


def validation_images(export_dir):
    """(labels, pixels) of the tiny run's validation split as the export streamed it."""
    from dfd.evaluate import run_folder
    from dfd.export import export_lib

    config = run_folder.load_config(str(export_dir.parent / "run"))
    labels, pixels = [], []
    for images, batch_labels in export_lib.pixel_batches(config, "validation"):
        labels.append(batch_labels.numpy())
        pixels.append(images.numpy())
    return np.concatenate(labels), np.concatenate(pixels)


@pytest.mark.parametrize("name", ["model_float32.tflite", "model_int8.tflite"])
def test_runtime_calibrated_p_fake_is_the_exports_on_the_same_images(tiny_export, name):
    """The device's calibrated answers on the validation images reproduce the figures the
    export recorded from them, and follow model.json's formula written out here."""
    from dfd.common import calibration

    labels, pixels = validation_images(tiny_export)
    fit = calibration_entry(tiny_export, name)["p_fake_calibration"]
    detector = Detector(str(tiny_export / name), faces="off")
    raw = np.array([detector.p_fake_pixels(image) for image in pixels])
    if fit["method"] == "platt":
        clipped = np.clip(raw, fit["clip"], 1 - fit["clip"])
        by_hand = 1 / (1 + np.exp(-(fit["a"] * np.log(clipped / (1 - clipped)) + fit["b"])))
    else:
        by_hand = raw
    on_device = detector.calibration.apply(raw)
    np.testing.assert_allclose(on_device, by_hand, rtol=0, atol=1e-12)
    recorded = fit["figures"]["validation"]
    for key in ("ece", "brier", "log_loss"):
        assert calibration.figures(labels, raw)[key] == pytest.approx(
            recorded["before"][key], abs=1e-12)
        assert calibration.figures(labels, on_device)[key] == pytest.approx(
            recorded["after"][key], abs=1e-12)
    for image in pixels[:4]:  # what classify prints for an image is the same calibrated value
        answer = detector.classify_bytes(encode(image, "PNG"))
        assert answer.p_fake_raw == detector.p_fake_pixels(image)
        assert answer.p_fake == pytest.approx(detector.calibration.apply(answer.p_fake_raw),
                                              abs=1e-15)


def test_parity_report_carries_calibration_on_the_held_out_split(tiny_export):
    report = json.loads((tiny_export / "parity.json").read_text())["p_fake_calibration"]
    assert set(report) == set(tflite.PRECISIONS)
    for entry in report.values():
        assert entry["before"]["examples"] == entry["after"]["examples"] == 16
        assert set(entry["thresholds"]) == {"default", "eer_validation", "fpr_1pct"}
        assert entry["uncertain"]["examples"] == 16


def test_the_runs_report_has_a_reliability_diagram_and_calibration_figures(tiny_export):
    run = tiny_export.parent / "run"
    assert (run / "calibration.png").stat().st_size > 10_000
    found = json.loads((run / "metrics.json").read_text())["calibration"]
    assert found["fitted_on"] == "validation"
    assert set(found["splits"]) == {"train", "validation", "test"}


def test_a_tiny_model_with_known_miscalibration_is_calibrated_through_the_runtime(tmp_path):
    """The texture detector ranks its images almost perfectly but its head is set so weak
    that every P(fake) lies near 0.5: far too unsure. Fitted per file on one draw of images
    as the device answers them (float32 and int8), the calibration lowers the ECE on
    another draw a lot."""
    from dfd.common import calibration
    from dfd.export import p_fake_calibration

    rng = np.random.default_rng(5)
    model, energy = texture_detector()
    fit_images, fit_labels = texture_images(200, rng)
    test_images, test_labels = texture_images(200, rng)
    set_head_sharpness(model, energy, fit_images, 1.0)
    for precision in ("float32", "int8"):
        path = tmp_path / f"texture_{precision}.tflite"
        path.write_bytes(tflite.convert(model, 16, precision,
                                        (lambda: iter(fit_images)) if precision == "int8"
                                        else None))
        detector = Detector(str(path))
        fit_raw = np.array([detector.p_fake_pixels(image) for image in fit_images])
        test_raw = np.array([detector.p_fake_pixels(image) for image in test_images])
        entries = p_fake_calibration.card_entries({"validation": fit_labels},
                                                  {"validation": fit_raw},
                                                  p_fake_calibration.clip_for(detector))
        fitted = calibration.Calibration.from_dict(entries["p_fake_calibration"])
        before = calibration.ece(test_labels, test_raw)
        after = calibration.ece(test_labels, fitted.apply(test_raw))
        print(f"{precision}: held-out ECE {before:.4f} -> {after:.4f}, a {fitted.a:.3f}")
        assert before > 0.2 and after < 0.1, (precision, before, after)
        assert fitted.a > 2
        # model.json beside the file, written through the card's one check as the export
        # writes it: the runtime's answers reproduce the export's figures
        model_card.write(str(tmp_path / "model.json"), {
            "preprocessing": spec.describe(16), "artifacts": {path.name: entries}})
        device = Detector(str(path))
        answers = [device.classify_bytes(encode(image, "PNG")) for image in fit_images]
        assert [a.p_fake_raw for a in answers] == list(fit_raw)
        recorded = entries["p_fake_calibration"]["figures"]["validation"]["after"]
        got = calibration.figures(fit_labels, np.array([a.p_fake for a in answers]))
        for key in ("ece", "brier", "log_loss"):
            assert got[key] == pytest.approx(recorded[key], abs=1e-12), (precision, key)
        band = entries["uncertain"]
        assert all((a.verdict == "uncertain") == (band["low"] < a.p_fake < band["high"])
                   for a in answers)
        assert np.mean([a.verdict == "uncertain" for a in answers]) == band["coverage"]
