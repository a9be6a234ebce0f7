"""The named thresholds and the uncertain band, chosen on validation from calibrated P(fake).

model.json states each with what it means and what it did on validation, so a person
picks by meaning (`--threshold=fpr_1pct`: at most 1 % of real photos called fake) and not
by a number that changes with every model:
  default         0.5 of the calibrated P(fake): fake when fake is the likelier answer;
  eer_validation  where validation's false-positive and false-negative rates meet;
  fpr_1pct        the lowest threshold that calls at most 1 % of validation's reals fake.
The band holds the validation images nearest 0.5 of the calibrated P(fake), the stated
coverage of them (10 % by default): for a calibrated model these are exactly the images
most often wrong (an image at P(fake) p is wrong with chance min(p, 1 - p)), so the band
is symmetric about 0.5 and needs no second fit. Numpy only.
"""

from __future__ import annotations

import numpy as np

from dfd.common import metrics, verdicts

COVERAGE = 0.10
"""Share of validation images the default band holds."""
FPR_TARGET = 0.01

MEANINGS = {
    "default": "0.5 of the calibrated P(fake): fake when fake is the likelier answer",
    "eer_validation": "equal error rate on validation: as many reals called fake as fakes "
                      "called real, in proportion",
    "fpr_1pct": "the lowest threshold at which at most 1% of validation's real images are "
                "called fake",
}


def rates(labels, p, threshold: float) -> dict:
    """What a threshold does on labelled images (no band)."""
    labels = np.asarray(labels).reshape(-1)
    called_fake = np.asarray(p, np.float64).reshape(-1) >= threshold
    reals, fakes = labels != 1, labels == 1
    return {"false_positive_rate": float(np.mean(called_fake[reals])) if reals.any() else None,
            "false_negative_rate": float(np.mean(~called_fake[fakes])) if fakes.any() else None,
            "accuracy": float(np.mean(called_fake == fakes))}


def fpr_threshold(labels, p, target: float = FPR_TARGET) -> float:
    """The lowest threshold that calls at most `target` of the reals fake: just above the
    real scored (k + 1)-th highest, k = floor(target x reals)."""
    labels = np.asarray(labels).reshape(-1)
    reals = np.sort(np.asarray(p, np.float64).reshape(-1)[labels != 1])[::-1]
    if not len(reals):
        return 0.5
    allowed = int(np.floor(target * len(reals) + 1e-9))
    if allowed >= len(reals):
        return 0.0
    return float(min(np.nextafter(reals[allowed], np.inf), 1.0))


def named_thresholds(labels, p) -> tuple[dict, dict]:
    """({name: threshold}, {name: {"means", "validation": rates}}) on calibrated `p`."""
    labels = np.asarray(labels).reshape(-1)
    found = {"default": 0.5}
    if labels.min() != labels.max():
        found["eer_validation"] = metrics.equal_error_rate(labels, p)[1]
    found["fpr_1pct"] = fpr_threshold(labels, p)
    return found, {name: {"means": MEANINGS[name], "validation": rates(labels, p, value)}
                   for name, value in found.items()}


def choose_band(labels, p, coverage: float = COVERAGE,
                threshold: float = 0.5) -> tuple[verdicts.Band, dict]:
    """(band about 0.5 holding at most `coverage` of the images, what it did on them)."""
    p = np.asarray(p, np.float64).reshape(-1)
    distance = np.sort(np.abs(p - 0.5))
    count = int(round(coverage * len(p)))
    if count <= 0:
        half = 0.0
    elif count >= len(p):
        half = 0.5
    else:
        half = float(distance[count])  # open band: exactly the `count` nearest, fewer on ties
    band = verdicts.Band(max(0.0, 0.5 - half), min(1.0, 0.5 + half))
    return band, band_figures(labels, p, band, threshold) | {"coverage_target": coverage}


def band_figures(labels, p, band: verdicts.Band | None, threshold: float = 0.5) -> dict:
    """Share of images in the band, accuracy outside it, and accuracy with no band."""
    labels = np.asarray(labels).reshape(-1)
    p = np.asarray(p, np.float64).reshape(-1)
    said = [verdicts.verdict(value, threshold, band) for value in p]
    inside = np.array([word == verdicts.UNCERTAIN for word in said])
    right = np.array([word == verdicts.FAKE for word in said]) == (labels == 1)
    plain = (p >= threshold) == (labels == 1)
    return {"examples": int(len(p)), "coverage": float(np.mean(inside)) if len(p) else 0.0,
            "accuracy_outside": float(np.mean(right[~inside])) if (~inside).any() else None,
            "accuracy_inside_at_threshold": float(np.mean(plain[inside])) if inside.any()
            else None,
            "accuracy_without_band": float(np.mean(plain)) if len(p) else None,
            "threshold": threshold}
