"""Do the exported files answer like the SavedModel? Measured on a labelled split.

Each .tflite file runs in dfd's own edge runtime (`dfd.lite.Detector`), so the figures are
those of the code a device runs, not of TensorFlow's interpreter. The int8 file must not
lose more than a set accuracy margin against the SavedModel: quantization that quietly
breaks a detector is the failure this report exists to stop.
"""

from __future__ import annotations

import numpy as np

from dfd import metrics


class ParityError(RuntimeError):
    """An artifact disagrees with the SavedModel beyond what the export allows."""


def compare(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray,
            threshold: float = 0.5) -> dict:
    """One artifact's figures against the reference P(fake) on the same images."""
    return {
        "accuracy": float(np.mean((candidate >= threshold) == (labels == 1))),
        "auc": metrics.roc_auc(labels, candidate),
        "max_abs_p_difference": float(np.max(np.abs(candidate - reference))),
        "mean_abs_p_difference": float(np.mean(np.abs(candidate - reference))),
        "verdict_agreement": float(np.mean((candidate >= threshold) == (reference >= threshold))),
    }


def report(split: str, labels: np.ndarray, reference: np.ndarray,
           artifacts: dict[str, np.ndarray], threshold: float = 0.5) -> dict:
    """parity.json: the SavedModel's own figures, then each artifact's against it."""
    return {
        "split": split,
        "examples": int(len(labels)),
        "threshold": threshold,
        "saved_model": {"accuracy": float(np.mean((reference >= threshold) == (labels == 1))),
                        "auc": metrics.roc_auc(labels, reference)},
        "tflite": {name: compare(reference, scores, labels, threshold)
                   for name, scores in artifacts.items()},
    }


def check_int8(parity: dict, max_accuracy_drop: float, name: str = "int8") -> None:
    """Raises ParityError when the int8 file loses more accuracy than allowed."""
    drop = parity["saved_model"]["accuracy"] - parity["tflite"][name]["accuracy"]
    if drop > max_accuracy_drop + 1e-12:
        raise ParityError(
            f"int8 accuracy {parity['tflite'][name]['accuracy']:.4f} is {drop * 100:.2f} points "
            f"below the SavedModel's {parity['saved_model']['accuracy']:.4f} on "
            f"{parity['split']} (allowed: {max_accuracy_drop * 100:.2f}, "
            f"--int8_max_accuracy_drop); calibrate on more images or keep the float model")


def summary_lines(parity: dict) -> list[str]:
    lines = [f"parity on {parity['split']} ({parity['examples']} images): SavedModel accuracy "
             f"{parity['saved_model']['accuracy']:.4f} AUC {parity['saved_model']['auc']:.4f}"]
    for name, row in parity["tflite"].items():
        lines.append(f"  {name:8s} accuracy {row['accuracy']:.4f}  AUC {row['auc']:.4f}  "
                     f"max |dp| {row['max_abs_p_difference']:.2e}  "
                     f"verdicts agree {row['verdict_agreement'] * 100:.2f}%")
    return lines
