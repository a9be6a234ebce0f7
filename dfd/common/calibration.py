"""Making P(fake) mean what it says: Platt scaling on the logit, and how to measure it.

A network trained with cross-entropy ranks images well but its raw sigmoid is often over-
or under-confident, and int8 rounding shifts it again, so a "0.9" read by a person is not
9 chances in 10. The export fits, on the validation split(s) and per artifact (each on
that file's own outputs, as the device runs it), two numbers a and b so that

    p_fake = sigmoid(a * logit(clip(p_fake_raw)) + b)

and stores them in model.json; the runtime applies the same formula (`Calibration.apply`).
Platt scaling and not temperature alone (b = 0): the bias also absorbs a shift of the base
rate between training and validation, for one more parameter that a ~1k-image split pins
down well. Not isotonic regression: on ~1k images its steps follow the split's noise,
ties many images at one value (the band and the named thresholds then jump from one tie
to the next) and it cannot be checked against a formula on the device; an affine map of
the logit keeps the ranking (AUC unchanged) and every verdict is a threshold on the raw
score, so nothing the int8 gate judged moves. The targets are Platt's (1999) smoothed
labels, (N+ + 1) / (N+ + 2) and 1 / (N- + 2): on a split the model separates perfectly
(the demo data) the unsmoothed fit has no optimum and a grows without bound.

Measured here: expected calibration error over equal-width bins of P(fake) (the gap
between the mean P(fake) and the share of fakes in each bin, weighted by the bin's share
of images), Brier score and log loss. Numpy only: the device may import this.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

BINS = 10
"""Equal-width P(fake) bins of the ECE and the reliability diagram: with ~1k validation
images each bin a well-calibrated model fills still holds tens of them."""

SIGNIFICANCE = 0.05
"""A fit is declined when a slope explains the labels no better than the base rate alone
at this level (likelihood-ratio test)."""

FLOAT_CLIP = 1e-7
"""How close to 0 or 1 a float32 sigmoid's answer is taken at face value: float32 rounds
sigmoid(17) to exactly 1.0, whose logit is infinite."""


def logit(p, clip: float) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), clip, 1.0 - clip)
    return np.log(p) - np.log1p(-p)


def sigmoid(z) -> np.ndarray:
    z = np.asarray(z, np.float64)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))),
                    np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """p_fake = sigmoid(a * logit(clip(raw)) + b); method "none" leaves raw as it is."""
    method: str = "none"
    a: float = 1.0
    b: float = 0.0
    clip: float = FLOAT_CLIP
    """Raw answers are kept this far from 0 and 1 before the logit: half an int8 output
    step (an int8 0 only says P(fake) is below 1/512), FLOAT_CLIP for float outputs."""
    note: str | None = None
    """Why the fit was declined (method "none"), for the person reading model.json."""

    def apply(self, raw):
        """Calibrated P(fake) for raw answers: a float for a float, an array for an array."""
        if self.method == "none":
            return raw if np.ndim(raw) == 0 else np.asarray(raw, np.float64)
        out = sigmoid(self.a * logit(raw, self.clip) + self.b)
        return float(out) if np.ndim(raw) == 0 else out

    def as_dict(self) -> dict:
        out = {"method": self.method, "formula": "p_fake = sigmoid(a * logit(clip(p_fake_raw, "
               "clip, 1 - clip)) + b)", "a": self.a, "b": self.b, "clip": self.clip}
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, entry: dict) -> "Calibration":
        """An artifact's p_fake_calibration from model.json, which `dfd.common.card` has
        checked (method, a > 0, finite b, 0 < clip < 0.5) before anything reads it."""
        clip = float(entry.get("clip", FLOAT_CLIP))
        if entry["method"] == "none":
            return cls(clip=clip, note=entry.get("note"))
        return cls("platt", float(entry["a"]), float(entry["b"]), clip)


IDENTITY = Calibration()


def fit(labels, raw, clip: float = FLOAT_CLIP, iterations: int = 100,
        weights=None) -> Calibration:
    """Platt scaling of `raw` P(fake) against `labels` (1 = fake), by Newton's method.

    Declined (method "none", with a note) when the split holds one class only; when the
    best fit would reverse the ranking (a <= 0: flipping it would be learning on
    validation); or when the slope is not significant: a near-chance model's answers all
    sit near one value, and a steep slope through them follows the split's noise (the
    2-epoch test model, 16 validation images: a = 369, test ECE 0.026 -> 0.189).

    `weights` (one per image, rescaled to mean 1) weigh each image's term, so a fit over
    several sources can give each source the same say instead of each image."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    z = logit(raw, clip).reshape(-1)
    weight = (np.ones_like(z) if weights is None
              else np.asarray(weights, np.float64).reshape(-1))
    if weight.shape != z.shape or not np.all(weight > 0):
        raise ValueError("calibration weights must be one positive number per image")
    weight = weight / np.mean(weight)
    positives, negatives = int(np.sum(labels == 1)), int(np.sum(labels != 1))
    if not positives or not negatives:
        return Calibration(clip=clip, note=f"not fitted: the calibration images hold "
                           f"{positives} fakes and {negatives} reals; both are needed")
    target = np.where(labels == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    features = np.stack([z, np.ones_like(z)], axis=1)

    def loss(w):
        s = features @ w
        # log(1 + e^s) - t s, written so large |s| neither overflows nor loses digits
        return float(np.sum(weight * (np.logaddexp(0.0, s) - target * s)))

    w = np.array([1.0, 0.0])
    current = loss(w)
    for _ in range(iterations):
        q = sigmoid(features @ w)
        gradient = features.T @ (weight * (q - target))
        hessian = ((features * (weight * q * (1.0 - q))[:, None]).T @ features
                   + 1e-9 * np.eye(2))
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-10:
            candidate = w - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale /= 2.0
        else:
            break
        converged = current - value < 1e-12 * max(1.0, abs(current))
        w, current = candidate, value
        if converged:
            break
    a, b = float(w[0]), float(w[1])
    if not a > 0:
        return Calibration(clip=clip, note=f"not fitted: the best Platt fit has slope "
                           f"{a:.4g} <= 0, so the model does not rank these images")
    base_rate = float(np.average(target, weights=weight))
    deviance = 2.0 * (loss(np.array([0.0, math.log(base_rate / (1.0 - base_rate))])) - current)
    p_value = math.erfc(math.sqrt(max(deviance, 0.0) / 2.0))  # chi-squared, 1 degree
    if p_value > SIGNIFICANCE:
        return Calibration(clip=clip, note=f"not fitted: on these {len(labels)} images the "
                           f"model's answers explain the labels no better than the base "
                           f"rate (likelihood-ratio test p = {p_value:.2g}), so a slope "
                           f"would follow noise")
    return Calibration("platt", a, b, clip)


def ece(labels, p, bins: int = BINS) -> float:
    """Expected calibration error of P(fake) over `bins` equal-width bins."""
    rows = reliability(labels, p, bins)
    total = sum(row["count"] for row in rows)
    if not total:
        return float("nan")
    return float(sum(row["count"] * abs(row["mean_p_fake"] - row["fake_share"])
                     for row in rows if row["count"]) / total)


def brier(labels, p) -> float:
    """Mean squared difference between P(fake) and the label."""
    p = np.asarray(p, np.float64).reshape(-1)
    return float(np.mean((p - np.asarray(labels, np.float64).reshape(-1)) ** 2))


def log_loss(labels, p, clip: float = FLOAT_CLIP) -> float:
    p = np.clip(np.asarray(p, np.float64).reshape(-1), clip, 1.0 - clip)
    y = np.asarray(labels, np.float64).reshape(-1)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def reliability(labels, p, bins: int = BINS) -> list[dict]:
    """Per bin [lo, hi) (the last one closed): images, mean P(fake), share that are fake."""
    p = np.asarray(p, np.float64).reshape(-1)
    y = np.asarray(labels, np.float64).reshape(-1)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    rows = []
    for i in range(bins):
        inside = index == i
        count = int(np.sum(inside))
        rows.append({"lo": i / bins, "hi": (i + 1) / bins, "count": count,
                     "mean_p_fake": float(np.mean(p[inside])) if count else None,
                     "fake_share": float(np.mean(y[inside])) if count else None})
    return rows


def figures(labels, p) -> dict:
    """ECE, Brier score and log loss of P(fake) on labelled images, JSON-ready."""
    return {"examples": int(np.size(labels)), "ece": ece(labels, p), "brier": brier(labels, p),
            "log_loss": log_loss(labels, p)}


def before_after(labels, raw, calibration: Calibration) -> dict:
    """figures() of the raw and of the calibrated P(fake) on the same images."""
    return {"before": figures(labels, raw), "after": figures(labels, calibration.apply(raw))}
