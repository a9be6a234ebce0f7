"""The calibration benchmark on the tiny generated run: the device's figures per split, the
export's own validation figures reproduced from decoded images, and the targets' verdicts."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TF_ENV
from benchmarks import calibration as bench


@pytest.mark.long
@pytest.mark.slow
def test_figures_per_split_match_the_exports_on_validation(tiny_export, tiny_tfds, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.calibration",
         f"--model={tiny_export / 'model_int8.tflite'}",
         f"--data_dir=tiny={tiny_tfds / 'tfds'}", f"--data_dir=other={tiny_tfds / 'tfds'}",
         "--trained_on=tiny", f"--out={tmp_path / 'calibration.json'}"],
        cwd=ROOT, env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "calibration.json").read_text())
    card = json.loads((tiny_export / "model.json").read_text())["artifacts"]["model_int8.tflite"]
    rows = {(r["source"], r["split"]): r for r in report["rows"]}
    assert set(rows) == {(s, split) for s in ("tiny", "other") for split in ("validation", "test")}
    assert not rows[("other", "test")]["trained_on_it"] and "other (left out)" in out.stdout
    # the export measured the same file on the same images through the TensorFlow pipeline;
    # the device's decoding is bit-identical (tests/lite/test_preprocess_parity.py)
    exported = card["p_fake_calibration"]["figures"]["validation"]
    validation = rows[("tiny", "validation")]
    assert validation["examples"] == exported["before"]["examples"] == 16
    assert validation["ece_before"] == pytest.approx(exported["before"]["ece"], abs=1e-9)
    assert validation["ece_after"] == pytest.approx(exported["after"]["ece"], abs=1e-9)
    assert validation["brier_after"] == pytest.approx(exported["after"]["brier"], abs=1e-9)
    assert set(validation["thresholds"]) == set(card["thresholds"])
    for name, at in validation["thresholds"].items():
        assert at["value"] == card["thresholds"][name]
        assert at["accuracy"] == pytest.approx(
            card["threshold_meanings"][name]["validation"]["accuracy"], abs=1e-12)
    assert validation["band"]["coverage"] == pytest.approx(card["uncertain"]["coverage"])
    for row in report["rows"]:
        assert 0 <= row["ece_after"] <= 1 and 0 <= row["band"]["coverage"] <= 1
        assert row["fakes"] + row["reals"] == row["examples"]
    assert report["targets"] == bench.targets(report["rows"])
    assert any(line.endswith("on tiny validation") and "ECE" in line
               for line in report["targets"])


def row(split="test", source="a", trained=True, ece=0.03, at_half=0.80, outside=0.86,
        coverage=0.10, fpr=0.015):
    return {"source": source, "split": split, "trained_on_it": trained, "ece_after": ece,
            "band": {"accuracy_without_band": at_half, "accuracy_outside": outside,
                     "coverage": coverage},
            "thresholds": {"fpr_1pct": {"false_positive_rate": fpr}}}


def test_targets_say_met_or_missed_with_the_numbers():
    assert bench.targets([row("validation")]) == [
        "met: ECE after calibration 0.0300 <= 0.05 on a validation",
        "met: accuracy outside the band 0.8600 >= 0.8000 + 0.05 at coverage 10.0% <= 15% "
        "on a validation"]
    missed = bench.targets([row("validation", ece=0.07, outside=0.84),
                            row(coverage=0.2, fpr=0.03)])
    assert [line.split(":")[0] for line in missed] == ["MISSED"] * 4
    assert "ECE after calibration 0.0700" in missed[0]
    assert "false-positive rate at fpr_1pct 3.00% <= 2%" in missed[3]


def test_targets_apply_where_the_issue_says():
    # accuracy at 0.5 already 0.95 or more: no band target; a left-out family's validation
    # split is not a calibration target (the fit never saw that family)
    lines = bench.targets([row("validation", source="b", trained=False, at_half=0.97)])
    assert lines == []
    lines = bench.targets([row(at_half=0.99)])
    assert lines == ["met: false-positive rate at fpr_1pct 1.50% <= 2% on the reals of a test"]


def test_alternative_fits_say_whether_a_miss_is_the_models_or_the_fits():
    """A small source scored far sharper than a large one: one pooled fit leaves it badly
    calibrated, its own fit does not, equal weight per source lands between; a left-out
    source is scored by the fits but never fitted on."""
    from dfd.common import calibration

    rng = np.random.default_rng(0)

    def source(examples, slope):
        true = rng.normal(0, 1.5, examples)
        labels = (rng.random(examples) < calibration.sigmoid(true)).astype(np.int64)
        return labels, calibration.sigmoid(slope * true)

    curves = {("big", "validation"): source(3000, 1.0), ("small", "validation"): source(300, 4.0),
              ("small", "test"): source(300, 4.0), ("unseen", "validation"): source(300, 0.3)}
    shipped = calibration.fit(np.concatenate([curves["big", "validation"][0],
                                              curves["small", "validation"][0]]),
                              np.concatenate([curves["big", "validation"][1],
                                              curves["small", "validation"][1]]))
    out = bench.alternative_fits(curves, trained={"big", "small"})
    small_test = out["small", "test"]
    test_labels, test_raw = curves["small", "test"]
    shipped_ece = calibration.ece(test_labels, shipped.apply(test_raw))
    assert small_test["ece_own_source_fit"] < small_test["ece_equal_weight_fit"] < shipped_ece
    assert small_test["ece_own_source_fit"] < 0.06 < shipped_ece
    assert set(out) == set(curves)
    assert out["unseen", "validation"]["ece_equal_weight_fit"] is not None
