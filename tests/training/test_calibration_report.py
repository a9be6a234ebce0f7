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
    found = calibration_report.write(str(tmp_path), curves, "validation", curves["validation"])
    assert (tmp_path / "calibration.png").stat().st_size > 10_000
    assert found["method"] == "platt" and found["fitted_on"] == "validation"
    for split in curves:
        pair = found["splits"][split]
        assert pair["before"]["ece"] > 0.05 > pair["after"]["ece"], split
        assert pair["after"]["brier"] < pair["before"]["brier"]
        assert sum(row["count"] for row in pair["reliability_after"]) == 1000
    json.dumps(found)  # metrics.json takes it as it is
    lines = calibration_report.summary_lines(found)
    assert len(lines) == 2 and lines[1].startswith("test: ECE ")
