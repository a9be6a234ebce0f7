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
BY_SOURCE_DIAGRAM = "calibration_by_source.png"


def figures(curves: dict, fitted: calibration.Calibration) -> dict:
    """{name: before and after, with the reliability bins} for {name: (labels, raw)}."""
    found = {}
    for name, (labels, scores) in curves.items():
        found[name] = {**calibration.before_after(labels, scores, fitted),
                       "reliability_before": calibration.reliability(labels, scores),
                       "reliability_after": calibration.reliability(labels,
                                                                    fitted.apply(scores))}
    return found


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


def write(workdir: str, curves: dict, fitted: calibration.Calibration, fitted_on: str,
          by_source: dict | None = None) -> dict:
    """Writes calibration.png into `workdir`; returns metrics.json's calibration section.

    curves: {split: (labels, raw P(fake))}; fitted: the calibration (`calibration.fit` on
    the `fitted_on` split's curve); by_source: {source: {split: (labels, raw)}}, measured
    with the same fit (one calibration serves every source, as on the device), adds
    `sources` and calibration_by_source.png (each source's last split, test if evaluated)."""
    found = {**fitted.as_dict(), "fitted_on": fitted_on, "bins": calibration.BINS,
             "splits": figures(curves, fitted)}
    write_diagram(os.path.join(workdir, DIAGRAM), curves, fitted)
    if by_source:
        found["sources"] = {name: figures(split_curves, fitted)
                            for name, split_curves in by_source.items()}
        shown = {}
        for name, split_curves in by_source.items():
            split = "test" if "test" in split_curves else list(split_curves)[-1]
            shown[f"{name} {split}"] = split_curves[split]
        write_diagram(os.path.join(workdir, BY_SOURCE_DIAGRAM), shown, fitted)
    return found


def summary_lines(found: dict, sources: list[str] | tuple = ()) -> list[str]:
    """A line per split of the union, then per split of each of `sources` (the sources
    just evaluated) that has figures."""
    def line(name, pair):
        return (f"{name}: ECE {pair['before']['ece']:.4f} -> {pair['after']['ece']:.4f}  "
                f"Brier {pair['before']['brier']:.4f} -> {pair['after']['brier']:.4f}  "
                f"(calibrated on {found['fitted_on']}, {found['method']})")

    lines = [line(split, pair) for split, pair in found.get("splits", {}).items()]
    for source in sources:
        for split, pair in found.get("sources", {}).get(source, {}).items():
            lines.append(line(f"{source} {split}", pair))
    return lines
