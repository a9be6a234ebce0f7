"""The evaluation report's calibration: calibration.png and ECE/Brier before and after."""

import json

import numpy as np

from dfd.common import calibration
from dfd.evaluate import calibration_report


def overconfident(examples, seed):
    """Labels from a known P(fake) and a model reporting its logit three times too sharp."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 2.0, examples)
    labels = (rng.random(examples) < calibration.sigmoid(true_logit)).astype(np.int64)
    return labels, calibration.sigmoid(3.0 * true_logit)


def test_report_fits_on_validation_and_measures_every_split(tmp_path):
    curves = {"validation": overconfident(1000, 0), "test": overconfident(1000, 1)}
    fitted = calibration.fit(*curves["validation"])
    by_source = {"a": {"validation": overconfident(500, 2), "test": overconfident(500, 3)},
                 "b": {"test": overconfident(500, 4)}}
    found = calibration_report.write(str(tmp_path), curves, fitted, "validation", by_source)
    assert (tmp_path / "calibration.png").stat().st_size > 10_000
    assert (tmp_path / "calibration_by_source.png").stat().st_size > 10_000
    assert set(found["sources"]) == {"a", "b"} and set(found["sources"]["a"]) == {
        "validation", "test"}
    assert found["sources"]["b"]["test"]["after"]["ece"] < 0.05
    assert found["method"] == "platt" and found["fitted_on"] == "validation"
    for split in curves:
        pair = found["splits"][split]
        assert pair["before"]["ece"] > 0.05 > pair["after"]["ece"], split
        assert pair["after"]["brier"] < pair["before"]["brier"]
        assert sum(row["count"] for row in pair["reliability_after"]) == 1000
    json.dumps(found)  # metrics.json takes it as it is
    lines = calibration_report.summary_lines(found)
    assert len(lines) == 2 and lines[1].startswith("test: ECE ")
