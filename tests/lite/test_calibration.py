"""Calibrated P(fake), named thresholds and the uncertain band: the numpy side and the
device runtime applying what model.json says (issue 22)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import PATCH, TINY_IMAGE_SIZE, encode, patch_image
from dfd.common import calibration, card, metrics, operating_points, verdicts
from dfd.lite.detector import Detector, ModelError


def miscalibrated(examples, rng, slope=3.0, shift=0.8):
    """Labels drawn from a known true P(fake) and a model that reports it too sharply and
    shifted: raw logit = slope x true logit + shift. Platt's answer is a = 1/slope."""
    sign = np.where(rng.integers(0, 2, examples) == 1, 1.0, -1.0)
    true_logit = 1.2 * sign + rng.normal(0, 1.5, examples)
    labels = (rng.random(examples) < calibration.sigmoid(true_logit)).astype(np.int64)
    return labels, calibration.sigmoid(slope * true_logit + shift)


@pytest.mark.parametrize("slope,shift", [(3.0, 0.8), (0.4, -0.5)])
def test_fit_on_validation_lowers_ece_on_held_out_images(slope, shift):
    """Over- and under-confident: fitted on one draw, measured on another."""
    rng = np.random.default_rng(0)
    labels, raw = miscalibrated(2000, rng, slope, shift)
    fitted = calibration.fit(labels, raw)
    assert fitted.method == "platt"
    assert fitted.a == pytest.approx(1 / slope, rel=0.15)
    assert fitted.b == pytest.approx(-shift / slope, abs=0.15)
    test_labels, test_raw = miscalibrated(2000, rng, slope, shift)
    before = calibration.figures(test_labels, test_raw)
    after = calibration.figures(test_labels, fitted.apply(test_raw))
    assert before["ece"] > 0.05 and after["ece"] < 0.03 and after["ece"] < before["ece"] / 2
    assert after["brier"] < before["brier"] and after["log_loss"] < before["log_loss"]
    assert metrics.roc_auc(test_labels, fitted.apply(test_raw)) == pytest.approx(
        metrics.roc_auc(test_labels, test_raw), abs=1e-12), "the ranking must not move"


def test_weighted_fit_gives_each_source_the_same_say():
    """Two sources miscalibrated in opposite directions, one ten times the other's size: the
    unweighted fit follows the large one; with equal weight per source the fit sits between
    them, as a weight of 2 on an image equals that image twice."""
    rng = np.random.default_rng(3)
    big_labels, big_raw = miscalibrated(4000, rng, 3.0, 0.0)
    small_labels, small_raw = miscalibrated(400, rng, 0.5, 0.0)
    labels = np.concatenate([big_labels, small_labels])
    raw = np.concatenate([big_raw, small_raw])
    weights = np.concatenate([np.full(4000, 1 / 4000), np.full(400, 1 / 400)])
    plain = calibration.fit(labels, raw)
    even = calibration.fit(labels, raw, weights=weights)
    big_alone, small_alone = calibration.fit(big_labels, big_raw), calibration.fit(small_labels, small_raw)
    assert plain.a == pytest.approx(big_alone.a, rel=0.3)
    assert big_alone.a < even.a < small_alone.a and even.a > 1.25 * plain.a
    twice = calibration.fit(np.concatenate([labels, small_labels]),
                            np.concatenate([raw, small_raw]))
    doubled = calibration.fit(labels, raw, weights=np.r_[np.ones(4000), np.full(400, 2.0)])
    assert doubled.a == pytest.approx(twice.a, rel=1e-2)
    assert doubled.b == pytest.approx(twice.b, abs=1e-2)
    with pytest.raises(ValueError, match="one positive number per image"):
        calibration.fit(labels, raw, weights=np.zeros_like(raw))


def test_a_calibrated_model_is_left_nearly_as_it_is():
    rng = np.random.default_rng(1)
    labels, raw = miscalibrated(4000, rng, slope=1.0, shift=0.0)
    fitted = calibration.fit(labels, raw)
    assert fitted.a == pytest.approx(1.0, abs=0.08) and fitted.b == pytest.approx(0, abs=0.08)


def test_separable_split_gets_a_finite_fit_and_a_quantized_zero_a_finite_logit():
    labels = np.array([0] * 50 + [1] * 50)
    raw = np.r_[np.zeros(10), np.linspace(0.01, 0.3, 40), np.linspace(0.7, 0.99, 50)]
    fitted = calibration.fit(labels, raw, clip=1 / 512)
    assert fitted.method == "platt" and np.isfinite([fitted.a, fitted.b]).all()
    assert 0 < fitted.apply(0.0) < fitted.apply(1 / 256) < 0.5


def test_fit_is_declined_when_it_cannot_mean_anything():
    raw = np.linspace(0.1, 0.9, 20)
    one_class = calibration.fit(np.ones(20), raw)
    assert one_class.method == "none" and "0 reals" in one_class.note
    reversed_ = calibration.fit((raw < 0.5).astype(int), raw)
    assert reversed_.method == "none" and "slope" in reversed_.note
    assert reversed_.apply(0.3) == 0.3, "declined: raw answers pass unchanged"


def test_a_near_chance_model_on_a_small_split_is_not_fitted_to_its_noise():
    """All answers near 0.526 with no real signal, 16 images: a slope would be noise."""
    rng = np.random.default_rng(4)
    labels = np.tile([0, 1], 8)
    raw = 0.526 + rng.normal(0, 1e-4, 16)
    declined = calibration.fit(labels, raw)
    assert declined.method == "none" and "likelihood-ratio" in declined.note
    signal = np.where(labels == 1, 0.527, 0.525) + rng.normal(0, 2e-4, 16)
    assert calibration.fit(labels, signal).method == "platt", "a clear ranking is fitted"


def test_card_entry_round_trips():
    """as_dict -> model.json -> from_dict; a damaged entry never reaches from_dict: the
    card's one check refuses it first (tests/lite/test_card.py)."""
    for fitted in (calibration.Calibration("platt", 0.5, -0.2, 1 / 512),
                   calibration.Calibration(clip=1e-7, note="not fitted: no reals")):
        entry = json.loads(json.dumps(fitted.as_dict()))
        assert card.validate({"preprocessing": {"image_size": 32}, "artifacts": {
            "m.tflite": {"p_fake_calibration": entry}}})
        assert calibration.Calibration.from_dict(entry) == fitted


def test_ece_and_brier_by_hand():
    labels = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.85, 0.95])  # bins 0, 1, 8, 9: each bin's gap = its mean
    assert calibration.ece(labels, p) == pytest.approx((0.05 + 0.15 + 0.15 + 0.05) / 4)
    assert calibration.brier(labels, p) == pytest.approx((0.05**2 + 0.15**2) / 2)
    rows = calibration.reliability(labels, np.array([0.0, 0.5, 1.0, 1.0]))
    assert [row["count"] for row in rows] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]


def test_named_thresholds_mean_what_they_say():
    rng = np.random.default_rng(2)
    labels, raw = miscalibrated(1000, rng)
    p = calibration.fit(labels, raw).apply(raw)
    found, meanings = operating_points.named_thresholds(labels, p)
    assert found["default"] == 0.5 and set(meanings) == {"default", "eer_validation",
                                                          "fpr_1pct"}
    reals = p[labels == 0]
    strict = found["fpr_1pct"]
    assert np.mean(reals >= strict) <= 0.01
    below = np.max(reals[reals < strict])  # the lowest such threshold: one step lower breaks it
    assert np.mean(reals >= below) > 0.01
    assert meanings["fpr_1pct"]["validation"]["false_positive_rate"] <= 0.01
    eer = meanings["eer_validation"]["validation"]
    assert abs(eer["false_positive_rate"] - eer["false_negative_rate"]) < 0.02
    tiny_found, _ = operating_points.named_thresholds(np.array([0, 0, 0, 1]),
                                                      np.array([0.1, 0.2, 0.3, 0.9]))
    assert 0.3 < tiny_found["fpr_1pct"] <= 0.9, "1% of 3 reals is none of them"


def test_band_holds_the_most_uncertain_share_and_they_are_the_most_often_wrong():
    rng = np.random.default_rng(3)
    labels, raw = miscalibrated(2000, rng)
    p = calibration.fit(labels, raw).apply(raw)
    band, figures = operating_points.choose_band(labels, p, 0.10)
    assert band.low < 0.5 < band.high and band.low + band.high == pytest.approx(1.0)
    assert 0.09 <= figures["coverage"] <= 0.10
    assert figures["accuracy_inside_at_threshold"] < 0.6 < figures["accuracy_without_band"]
    assert figures["accuracy_outside"] > figures["accuracy_without_band"]
    inside = (p > band.low) & (p < band.high)
    assert np.all(np.abs(p[inside] - 0.5) <= np.min(np.abs(p[~inside] - 0.5)))
    same, _ = operating_points.choose_band(labels[:20], np.full(20, 0.5), 0.1)
    assert operating_points.band_figures(labels[:20], np.full(20, 0.5), same)["coverage"] == 0


def test_verdicts_of_one_answer_and_of_a_photo():
    band = verdicts.Band(0.4, 0.6)
    assert [verdicts.verdict(p, 0.5, band) for p in (0.39, 0.4, 0.5, 0.59, 0.6)] == \
        ["real", "real", "uncertain", "uncertain", "fake"]
    assert verdicts.verdict(0.5, 0.5) == "fake" and verdicts.verdict(0.45, 0.3, band) == \
        "uncertain" and verdicts.verdict(0.35, 0.3, band) == "fake"
    assert verdicts.photo_verdict(["real", "uncertain", "fake"]) == "fake"
    assert verdicts.photo_verdict(["real", "uncertain", "real"]) == "uncertain"
    assert verdicts.photo_verdict(["real", "real"]) == "real"
    assert verdicts.photo_verdict([]) == "no face"


@pytest.mark.parametrize("text", ["0.4", "a,b", "0.6,0.4", "-1,0.5", "nan,0.5", "0.2,inf",
                                  "0.1,0.2,0.3"])
def test_bad_band_is_named(text):
    with pytest.raises(ValueError, match="must be LOW,HIGH \\(two numbers from 0 to 1, LOW "
                                         "<= HIGH\\) or off, not"):
        verdicts.parse_band(text)
    assert verdicts.parse_band("off") is None and verdicts.parse_band(" 0.3,0.7") == \
        verdicts.Band(0.3, 0.7)


CALIBRATED = {"method": "platt", "a": 0.8, "b": 0.2, "clip": 1e-7}
BAND = {"low": 0.4, "high": 0.7}


def raw_of(grey: int) -> float:
    """The patch model's answer for a patch of one grey level (conftest.patch_models)."""
    return float(calibration.sigmoid(10.0 * grey / 255.0 - 5.0))


def expected(raw: float) -> float:
    """model.json's formula, written out here on its own."""
    z = np.log(raw) - np.log1p(-raw)
    return 1.0 / (1.0 + np.exp(-(0.8 * z + 0.2)))


def patch_png(grey: int, seed: int = 0) -> bytes:
    pixels = patch_image(seed)
    top, bottom, left, right = PATCH
    pixels[top:bottom, left:right] = grey
    return encode(pixels, "PNG")


@pytest.fixture
def bundle(patch_models, tmp_path):
    """patch_float32.tflite with a model.json holding a calibration, thresholds and band."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    shutil.copy(patch_models / "patch_float32.tflite", folder)
    (folder / "model.json").write_text(json.dumps({"preprocessing": {"image_size": TINY_IMAGE_SIZE},
                                                   "artifacts": {"patch_float32.tflite": {
        "p_fake_calibration": CALIBRATED, "uncertain": BAND,
        "thresholds": {"default": 0.5, "eer_validation": 0.45, "fpr_1pct": 0.9}}}}))
    return folder / "patch_float32.tflite"


def test_runtime_applies_model_jsons_calibration_and_band(bundle, patch_models):
    raw_detector = Detector(str(patch_models / "patch_float32.tflite"))
    detector = Detector(str(bundle))
    assert raw_detector.calibration.method == "none" and raw_detector.band is None
    for grey, word in ((0, "real"), (128, "uncertain"), (140, "uncertain"), (255, "fake")):
        answer = detector.classify_bytes(patch_png(grey))
        raw = raw_detector.classify_bytes(patch_png(grey)).p_fake
        assert answer.p_fake_raw == raw and raw == pytest.approx(raw_of(grey), abs=1e-5)
        assert answer.p_fake == pytest.approx(expected(raw), abs=1e-12)
        assert answer.verdict == word, (grey, answer)
        line = answer.as_dict()
        assert line["uncertain"] == [0.4, 0.7] and line["p_fake_raw"] == raw
    assert detector.description["calibration"] == "platt"


def test_threshold_names_and_band_options_resolve_from_the_artifacts_entry(bundle):
    assert Detector(str(bundle), threshold="fpr_1pct").threshold == 0.9
    assert Detector(str(bundle), threshold="eer_validation").threshold == 0.45
    high = Detector(str(bundle), threshold="fpr_1pct", uncertain="off")
    assert high.band is None and high.classify_bytes(patch_png(180)).verdict == "real"
    narrow = Detector(str(bundle), uncertain="0.5,0.52")
    assert narrow.classify_bytes(patch_png(128)).verdict == "fake"
    with pytest.raises(ModelError, match="the uncertain band must be LOW,HIGH"):
        Detector(str(bundle), uncertain="0.7,0.2")
    assert Detector(str(bundle), uncertain=verdicts.Band(0.1, 0.2)).band == verdicts.Band(0.1,
                                                                                          0.2)
    with pytest.raises(ModelError, match="'lenient'"):
        Detector(str(bundle), threshold="lenient")


def test_a_damaged_calibration_entry_is_refused_naming_the_file(bundle):
    card = json.loads((bundle.parent / "model.json").read_text())
    card["artifacts"]["patch_float32.tflite"]["p_fake_calibration"]["a"] = "steep"
    (bundle.parent / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"bundle/model.json: artifacts.patch_float32.tflite"
                                         r".p_fake_calibration.a must be a number above 0"):
        Detector(str(bundle))


def dfd_lite(*args):
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", *map(str, args)],
                         capture_output=True, text=True, timeout=120)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], out.stderr


def test_cli_on_real_photos_only_says_how_many_were_called_fake_and_uncertain(bundle,
                                                                             tmp_path):
    real = tmp_path / "mine" / "Real"
    real.mkdir(parents=True)
    for name, grey in (("a", 0), ("b", 10), ("c", 128), ("d", 255)):
        (real / f"{name}.png").write_bytes(patch_png(grey))
    kernels = Detector(str(bundle)).kernels
    code, lines, err = dfd_lite(bundle, real.parent)
    assert code == 0 and [line["verdict"] for line in lines] == \
        ["real", "real", "uncertain", "fake"]
    assert err.splitlines()[-1] == (
        "dfd-lite: 4 classified (1 fake 25.0%, 1 uncertain 25.0%, 2 real), 0 failed; "
        f"patch_float32.tflite ({kernels} kernels); "
        "against Real/ folder names: 1 of 4 real photos called fake (25.0%), "
        "1 uncertain (25.0%)")
    code, lines, err = dfd_lite(bundle, real.parent, "--uncertain=off")
    assert "uncertain" not in err.splitlines()[-1] and "uncertain" not in lines[0]
    code, _, err = dfd_lite(bundle, real.parent, "--uncertain=0.2")
    assert code == 2 and "--uncertain: must be LOW,HIGH" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_with_both_folders_scores_only_the_decided(bundle, tmp_path):
    for folder, greys in (("Real", (0, 128, 255)), ("Fake", (255, 140))):
        (tmp_path / folder).mkdir()
        for grey in greys:
            (tmp_path / folder / f"{grey}.png").write_bytes(patch_png(grey))
    code, lines, err = dfd_lite(bundle, tmp_path)
    assert code == 0
    assert err.splitlines()[-1].endswith(
        "against Fake/Real folder names: accuracy 0.6667 on the 3 decided of 5 "
        "(2 uncertain); 1 of 3 real photos called fake (33.3%)")
