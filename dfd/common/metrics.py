"""Binary detection metrics from labels and P(fake), in numpy: one definition for every report.

Training's Keras metrics are running estimates; reports (metrics.json, export parity,
benchmarks) need exact figures and the curves behind them, computed the same way
everywhere. Positive class = fake (label 1).
"""

from __future__ import annotations

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray):
    """(false positive rates, true positive rates, thresholds), thresholds descending."""
    labels = np.asarray(labels, np.float64)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    fps = (1 + distinct) - tps
    positives, negatives = max(labels.sum(), 1e-12), max(len(labels) - labels.sum(), 1e-12)
    tpr = np.r_[0.0, tps / positives]
    fpr = np.r_[0.0, fps / negatives]
    thresholds = np.r_[np.inf, scores[distinct]]
    return fpr, tpr, thresholds


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count half), NaN if a class is missing."""
    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray):
    """(precision, recall) at each distinct threshold, recall ascending."""
    fpr, tpr, _ = roc_curve(labels, scores)
    positives = float(np.sum(labels))
    negatives = float(len(labels) - positives)
    tp, fp = tpr * positives, fpr * negatives
    precision = np.divide(tp, tp + fp, out=np.ones_like(tp), where=(tp + fp) > 0)
    return precision, tpr


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(EER, threshold at EER): where false positive rate meets false negative rate."""
    fpr, tpr, thresholds = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    threshold = float(thresholds[i]) if np.isfinite(thresholds[i]) else 1.0
    return float((fpr[i] + fnr[i]) / 2.0), threshold


def binary_cross_entropy(labels: np.ndarray, scores: np.ndarray) -> float:
    p = np.clip(np.asarray(scores, np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def summarize(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Every figure a report needs, JSON-ready. Confusion matrix rows = truth (real, fake)."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = (np.asarray(scores) >= threshold).astype(np.int64)
    tp = int(np.sum((predicted == 1) & (labels == 1)))
    tn = int(np.sum((predicted == 0) & (labels == 0)))
    fp = int(np.sum((predicted == 1) & (labels == 0)))
    fn = int(np.sum((predicted == 0) & (labels == 1)))
    eer, eer_threshold = equal_error_rate(labels, scores)
    return {
        "examples": int(len(labels)),
        "loss": binary_cross_entropy(labels, scores),
        "threshold": float(threshold),
        "accuracy": (tp + tn) / max(len(labels), 1),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "auc": roc_auc(labels, scores),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "confusion_matrix": {"labels": ["real", "fake"], "rows_truth_cols_predicted":
                             [[tn, fp], [fn, tp]]},
    }
