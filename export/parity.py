"""Do the exported files answer like the SavedModel? Measured on a labelled split.

Each .tflite file runs in dfd's own edge runtime (`dfd.lite.Detector`), so the figures are
those of the code a device runs, not of TensorFlow's interpreter.

The int8 gate judges what quantization can break, with tolerances that know the split's
size. Accuracy at 0.5 is the wrong yardstick: a near-chance model scores most images near
0.5, where rounding alone moves verdicts across the threshold, while a quantization that
wrecks the ranking can keep accuracy. So the gate asks two things:
  - ranking: the int8 AUC may fall below the SavedModel's by no more than the larger of a
    fixed floor and a multiple of the AUC's standard error on this split (Hanley and McNeil
    1982): a smaller drop is below what the split can measure;
  - confident verdicts: on the images the SavedModel scores at least `confident_margin`
    away from the threshold, int8 must give the same verdict. Rounding cannot move a score
    that far, so flips there are breakage; the allowed count is the largest that a flip
    rate of `max_flip_rate` still explains at the 5% level (one-sided binomial test), so a
    few confident images allow no flip and thousands allow a handful.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dfd.common import metrics

SIGNIFICANCE = 0.05
"""Flips beyond what the allowed rate gives with this probability fail the gate."""


class ParityError(RuntimeError):
    """An artifact disagrees with the SavedModel beyond what the export allows."""


@dataclasses.dataclass(frozen=True)
class Int8Gate:
    """Tolerances of the int8 gate (flags --int8_max_auc_drop, --int8_auc_standard_errors,
    --int8_confident_margin, --int8_max_flip_rate)."""
    max_auc_drop: float = 0.01
    auc_standard_errors: float = 1.0
    confident_margin: float = 0.25
    max_flip_rate: float = 0.01


def compare(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray,
            threshold: float = 0.5, confident_margin: float = 0.25) -> dict:
    """One artifact's figures against the reference P(fake) on the same images."""
    agree = (candidate >= threshold) == (reference >= threshold)
    confident = np.abs(reference - threshold) >= confident_margin
    return {
        "accuracy": float(np.mean((candidate >= threshold) == (labels == 1))),
        "auc": metrics.roc_auc(labels, candidate),
        "max_abs_p_difference": float(np.max(np.abs(candidate - reference))),
        "mean_abs_p_difference": float(np.mean(np.abs(candidate - reference))),
        "verdict_agreement": float(np.mean(agree)),
        "confident_examples": int(np.sum(confident)),
        "confident_verdict_flips": int(np.sum(confident & ~agree)),
    }


def report(split: str, labels: np.ndarray, reference: np.ndarray,
           artifacts: dict[str, np.ndarray], threshold: float = 0.5,
           confident_margin: float = 0.25) -> dict:
    """parity.json: the SavedModel's own figures, then each artifact's against it."""
    labels = np.asarray(labels)
    return {
        "split": split,
        "examples": int(len(labels)),
        "fakes": int(np.sum(labels == 1)),
        "reals": int(np.sum(labels != 1)),
        "threshold": threshold,
        "confident_margin": confident_margin,
        "saved_model": {"accuracy": float(np.mean((reference >= threshold) == (labels == 1))),
                        "auc": metrics.roc_auc(labels, reference)},
        "tflite": {name: compare(reference, scores, labels, threshold, confident_margin)
                   for name, scores in artifacts.items()},
    }


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an AUC measured on this many images."""
    if not positives or not negatives or math.isnan(auc):
        return float("nan")
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (auc * (1.0 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def allowed_flips(examples: int, rate: float, significance: float = SIGNIFICANCE) -> int:
    """The most flips among `examples` that a true flip rate of `rate` still produces with
    probability at least `significance` (the one-sided binomial critical count)."""
    if examples == 0 or rate <= 0.0:
        return 0
    if rate >= 1.0:
        return examples
    log_rate, log_rest = math.log(rate), math.log1p(-rate)
    log_n = math.lgamma(examples + 1)
    below = 0.0  # P(X <= k)
    for k in range(examples + 1):
        below += math.exp(log_n - math.lgamma(k + 1) - math.lgamma(examples - k + 1)
                          + k * log_rate + (examples - k) * log_rest)
        if below > 1.0 - significance:
            return k
    return examples


def judge_int8(parity: dict, gate: Int8Gate, name: str = "int8") -> dict:
    """The gate's figures and verdict, JSON-ready; `failures` says what broke."""
    row = parity["tflite"][name]
    reference_auc = parity["saved_model"]["auc"]
    standard_error = auc_standard_error(reference_auc, parity["fakes"], parity["reals"])
    failures = []
    result = {"artifact": name, "significance": SIGNIFICANCE, **dataclasses.asdict(gate)}
    if math.isnan(reference_auc):
        result.update(auc_drop=None, auc_standard_error=None, allowed_auc_drop=None)
    else:
        drop = reference_auc - row["auc"]
        allowed = max(gate.max_auc_drop, gate.auc_standard_errors * standard_error)
        result.update(auc_drop=drop, auc_standard_error=standard_error,
                      allowed_auc_drop=allowed)
        if drop > allowed + 1e-12:
            failures.append(
                f"{name} AUC {row['auc']:.4f} is {drop:.4f} below the SavedModel's "
                f"{reference_auc:.4f} on {parity['split']} (allowed {allowed:.4f}: the larger "
                f"of --int8_max_auc_drop={gate.max_auc_drop:g} and "
                f"--int8_auc_standard_errors={gate.auc_standard_errors:g} x the AUC's "
                f"standard error {standard_error:.4f})")
    flips, confident = row["confident_verdict_flips"], row["confident_examples"]
    allowed_count = allowed_flips(confident, gate.max_flip_rate)
    result.update(confident_examples=confident, confident_verdict_flips=flips,
                  allowed_confident_flips=allowed_count)
    if flips > allowed_count:
        failures.append(
            f"{name} flips the verdict on {flips} of the {confident} images the SavedModel "
            f"scores at least {gate.confident_margin:g} from the threshold (allowed "
            f"{allowed_count} at --int8_max_flip_rate={gate.max_flip_rate:g})")
    result.update(passed=not failures, failures=failures)
    return result


def check_int8(verdict: dict) -> None:
    """Raises ParityError with every failure when judge_int8's verdict is a fail."""
    check_gates({verdict.get("artifact", "int8"): verdict})


def check_gates(verdicts: dict[str, dict]) -> None:
    """Raises ParityError naming every artifact whose gate failed."""
    failures = [failure for verdict in verdicts.values() if not verdict["passed"]
                for failure in verdict["failures"]]
    if failures:
        raise ParityError("; ".join(failures)
                          + "; calibrate on more images or keep the float model")


def summary_lines(parity: dict) -> list[str]:
    lines = [f"parity on {parity['split']} ({parity['examples']} images): SavedModel accuracy "
             f"{parity['saved_model']['accuracy']:.4f} AUC {parity['saved_model']['auc']:.4f}"]
    for name, row in parity["tflite"].items():
        lines.append(f"  {name:8s} accuracy {row['accuracy']:.4f}  AUC {row['auc']:.4f}  "
                     f"max |dp| {row['max_abs_p_difference']:.2e}  "
                     f"verdicts agree {row['verdict_agreement'] * 100:.2f}%  confident flips "
                     f"{row['confident_verdict_flips']}/{row['confident_examples']}")
    for name, gate in parity.get("gates", {"int8": parity.get("int8_gate")}).items():
        if not gate:
            continue
        auc = ("AUC not judged (one class)" if gate["auc_drop"] is None else
               f"AUC drop {gate['auc_drop']:.4f} (allowed {gate['allowed_auc_drop']:.4f})")
        lines.append(f"  {name} gate {'passed' if gate['passed'] else 'FAILED'}: {auc}, "
                     f"confident flips {gate['confident_verdict_flips']} "
                     f"(allowed {gate['allowed_confident_flips']})")
    return lines
