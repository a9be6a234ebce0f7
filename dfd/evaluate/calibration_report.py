"""Calibration in the evaluation report: metrics.json's `calibration` and calibration.png.

The Keras model's P(fake) is calibrated the way the export calibrates each .tflite
(`dfd.common.calibration`: Platt scaling fitted on the validation split), then every
evaluated split is measured before and after: ECE, Brier score, log loss and the
reliability bins behind the diagram. On the split it was fitted on the fit can only help;
on test, and above all on a source the model never trained on, the figures say whether
P(fake) still means what it says there. The export fits its own calibration per artifact
on that file's answers; these figures are the trained model's.
"""

from __future__ import annotations

import os

import numpy as np

from dfd.common import calibration

DIAGRAM = "calibration.png"


def section(curves: dict, fitted_on: str, fit_curve: tuple) -> tuple[dict, calibration.Calibration]:
    """(metrics.json's calibration section, the fit) for {split: (labels, raw P(fake))},
    fitted on `fit_curve`, the (labels, raw P(fake)) of split `fitted_on`."""
    labels, raw = fit_curve
    fitted = calibration.fit(labels, raw)
    splits = {}
    for split, (split_labels, scores) in curves.items():
        after = fitted.apply(scores)
        splits[split] = {**calibration.before_after(split_labels, scores, fitted),
                         "reliability_before": calibration.reliability(split_labels, scores),
                         "reliability_after": calibration.reliability(split_labels, after)}
    return {**fitted.as_dict(), "fitted_on": fitted_on, "bins": calibration.BINS,
            "splits": splits}, fitted


def write_diagram(path: str, curves: dict, fitted: calibration.Calibration) -> str:
    """Reliability diagram: per split, share of fakes against mean P(fake) in each bin,
    before and after calibration, with the images per bin below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(curves), figsize=(3.8 * len(curves), 5.4), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    edges = np.linspace(0, 1, calibration.BINS + 1)
    for column, (split, (labels, raw)) in enumerate(curves.items()):
        top, bottom = axes[0][column], axes[1][column]
        top.plot([0, 1], [0, 1], "k:", lw=1)
        for name, scores, style in (("raw", np.asarray(raw, np.float64), "o--"),
                                    ("calibrated", fitted.apply(raw), "o-")):
            rows = [row for row in calibration.reliability(labels, scores) if row["count"]]
            top.plot([row["mean_p_fake"] for row in rows], [row["fake_share"] for row in rows],
                     style, label=f"{name} (ECE {calibration.ece(labels, scores):.3f})")
            bottom.hist(scores, bins=edges, histtype="step", label=name)
        top.set(title=split, ylabel="share of fakes", xlim=(0, 1), ylim=(0, 1))
        top.legend(loc="upper left", fontsize=8)
        bottom.set(xlabel="P(fake)", ylabel="images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(workdir: str, curves: dict, fitted_on: str, fit_curve: tuple,
          diagram: str = DIAGRAM) -> dict:
    """Writes the reliability diagram into `workdir`; returns the metrics.json section.
    `curves` may hold splits or sources alike: {name: (labels, raw P(fake))}."""
    found, fitted = section(curves, fitted_on, fit_curve)
    write_diagram(os.path.join(workdir, diagram), curves, fitted)
    return found


def summary_lines(found: dict) -> list[str]:
    lines = []
    for split, pair in found["splits"].items():
        lines.append(f"{split}: ECE {pair['before']['ece']:.4f} -> {pair['after']['ece']:.4f}  "
                     f"Brier {pair['before']['brier']:.4f} -> {pair['after']['brier']:.4f}  "
                     f"(calibrated on {found['fitted_on']}, {found['method']})")
    return lines
