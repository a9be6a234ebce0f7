"""Fits each exported .tflite's P(fake) calibration, named thresholds and uncertain band.

Each file is run by dfd's edge runtime (`dfd.lite.Detector`) on the validation split(s),
exactly as a device runs it, so float16's and int8's own rounding is what gets calibrated
(`dfd.common.calibration`); the thresholds and the band are then chosen on that file's
calibrated answers (`dfd.common.operating_points`). All of it goes into the file's entry
in model.json's `artifacts`, where the runtime reads it. The SavedModel keeps its raw
P(fake): it is not run by the device runtime.
"""

from __future__ import annotations

import numpy as np

from dfd.common import calibration, operating_points
from dfd.lite.detector import Detector


def raw_scores(detectors: dict[str, Detector], batches) -> tuple[np.ndarray, dict]:
    """(labels, {precision: raw P(fake)}) over (images, labels) batches, streamed once."""
    labels, scores = [], {name: [] for name in detectors}
    for images, batch_labels in batches:
        labels.append(np.asarray(batch_labels).reshape(-1))
        for name, detector in detectors.items():
            scores[name] += [detector.p_fake_pixels(image) for image in np.asarray(images)]
    return (np.concatenate(labels).astype(np.int64),
            {name: np.array(s, np.float64) for name, s in scores.items()})


def clip_for(detector: Detector) -> float:
    """Half the output's step for an int8 file, else calibration.FLOAT_CLIP."""
    return max(detector.output_step / 2.0, calibration.FLOAT_CLIP)


def card_entries(labels_by_split: dict[str, np.ndarray], raw_by_split: dict[str, np.ndarray],
                 clip: float, coverage: float = operating_points.COVERAGE) -> dict:
    """The model.json fields of one artifact from its raw answers on each calibration split
    (pooled for the fit): p_fake_calibration, thresholds, threshold_meanings, uncertain."""
    labels = np.concatenate(list(labels_by_split.values()))
    raw = np.concatenate([raw_by_split[split] for split in labels_by_split])
    fitted = calibration.fit(labels, raw, clip)
    calibrated = fitted.apply(raw)
    thresholds, meanings = operating_points.named_thresholds(labels, calibrated)
    band, figures = operating_points.choose_band(labels, calibrated, coverage)
    return {
        "p_fake_calibration": {
            **fitted.as_dict(), "fitted_on": list(labels_by_split),
            "examples": int(len(labels)), "fakes": int(np.sum(labels == 1)),
            "reals": int(np.sum(labels != 1)),
            "figures": {split: calibration.before_after(labels_by_split[split],
                                                        raw_by_split[split], fitted)
                        for split in labels_by_split}},
        "thresholds": thresholds,
        "threshold_meanings": meanings,
        "uncertain": {"low": band.low, "high": band.high, **figures, "chosen_on": list(labels_by_split),
                      "means": f"verdict uncertain when {band.low:.4g} < P(fake) < "
                               f"{band.high:.4g}: the {coverage:.0%} of validation images "
                               f"nearest 0.5, where the model is wrong most often"},
    }


def held_out(labels: np.ndarray, raw: np.ndarray, detector: Detector) -> dict:
    """An artifact's calibration, named thresholds and band on a split it was not fitted on
    (parity.json): as the runtime answers, from the card the detector read."""
    calibrated = detector.calibration.apply(raw)
    return {**calibration.before_after(labels, raw, detector.calibration),
            "thresholds": {name: operating_points.rates(labels, calibrated, value)
                           for name, value in detector.thresholds.items()},
            "uncertain": operating_points.band_figures(labels, calibrated, detector.band)}


def summary_lines(card_artifacts: dict) -> list[str]:
    """One line per calibrated file for the export's output."""
    lines = []
    for name, entry in card_artifacts.items():
        fit = entry.get("p_fake_calibration")
        if fit is None:
            continue
        band = entry["uncertain"]
        for split, pair in fit["figures"].items():
            how = (f"a {fit['a']:.3f} b {fit['b']:.3f}" if fit["method"] == "platt"
                   else fit.get("note", "not fitted"))
            lines.append(f"calibration of {name} on {split} ({pair['before']['examples']} "
                         f"images, {how}): ECE {pair['before']['ece']:.4f} -> "
                         f"{pair['after']['ece']:.4f}, Brier {pair['before']['brier']:.4f} "
                         f"-> {pair['after']['brier']:.4f}")
        lines.append(f"  {name}: uncertain band {band['low']:.4f}..{band['high']:.4f} holds "
                     f"{band['coverage']:.1%} of validation; thresholds " + ", ".join(
                         f"{k} {v:.4f}" for k, v in entry["thresholds"].items()))
    return lines

