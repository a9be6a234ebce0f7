"""Evaluation report: metrics.json and plots for a trained workdir.

    python -m dfd.evaluate --workdir=runs/x [--split=test]   (dfd/evaluate/__main__.py)

Reads the run's own resolved settings (workdir/config.json), loads the checkpoint chosen on
the validation split (best.keras), and writes workdir/metrics.json with, per split: loss,
accuracy, precision and recall of the fake class, ROC AUC, equal error rate and its
threshold, confusion matrix; plus roc.png, pr.png, confusion_matrix.png and
training_curves.png; calibration.png and metrics.json's `calibration`
(dfd.evaluate.calibration_report: ECE and Brier before and after Platt scaling fitted on
validation); and the robustness suite (dfd.evaluate.robustness: AUC and accuracy under JPEG,
resizing, blur, crops, colour jitter and a social-media chain) on --robustness_splits, as
metrics.json's `robustness` and robustness.png.
"""

from __future__ import annotations

import json
import os
import weakref

import numpy as np

from dfd.common import calibration, metrics
from dfd.evaluate import calibration_report, robustness
from dfd.evaluate.run_folder import load_config, load_model, read_history, run_sources
from dfd.train import pipeline

_PASSES = weakref.WeakKeyDictionary()
"""One traced pass per model. A tf.function made afresh for every split or source traced
again each time, and TensorFlow warned of excessive retracing on the user's terminal (several
sources x three splits); kept per model, a pass traces once per dataset element spec."""


def _pass_over(model):
    import tensorflow as tf

    if model in _PASSES:
        return _PASSES[model]

    @tf.function
    def run(ds):
        labels = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False,
                                element_shape=tf.TensorShape([None]))
        scores = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False,
                                element_shape=tf.TensorShape([None]))
        for images, batch_labels in ds:
            scores = scores.write(scores.size(), tf.reshape(
                tf.cast(model(images, training=False), tf.float32), [-1]))
            labels = labels.write(labels.size(), tf.reshape(
                tf.cast(batch_labels, tf.float32), [-1]))
        return labels.concat(), scores.concat()

    _PASSES[model] = run
    return run


def predict(model, ds) -> tuple[np.ndarray, np.ndarray]:
    """(labels, P(fake)) over a dataset of (images, labels) batches, in its order.

    The whole pass is one graph (a tf.function looping over the dataset): no eager call and
    no Python per batch, so a GPU is fed as fast as the pipeline's prefetch delivers rather
    than at the speed the host dispatches eager ops."""
    labels, scores = _pass_over(model)(ds)
    return labels.numpy(), scores.numpy().astype(np.float64)


def evaluate_splits(model, config: dict, sources: list, splits: list[str]
                    ) -> tuple[dict, dict]:
    """({source: {split: summary}}, {source: {split: (labels, scores)}}) for every source."""
    results, curves = {}, {}
    cfg = pipeline.PipelineConfig(image_size=config["image_size"],
                                  batch_size=config["batch_size"], cache="none", augment=())
    for source in sources:
        results[source.name], curves[source.name] = {}, {}
        for split in splits:
            ds = pipeline.build_dataset(source.data_dir, split, cfg, training=False,
                                        dataset=config["dataset"])
            labels, scores = predict(model, ds)
            results[source.name][split] = metrics.summarize(labels, scores)
            curves[source.name][split] = (labels, scores)
    return results, curves


def union_curves(curves: dict, splits: list[str]) -> dict:
    """{split: (labels, scores)} of every source's images together."""
    return {split: (np.concatenate([c[split][0] for c in curves.values()]),
                    np.concatenate([c[split][1] for c in curves.values()]))
            for split in splits}


def source_images(data_dir: str, dataset: str, split: str):
    """(decoded RGB source image, label) of a split in file order, as the builder stored
    them: the robustness suite degrades the source, before the preprocessing contract."""
    import tensorflow_datasets as tfds
    from PIL import Image

    from dfd.imaging import gate

    found = pipeline.builder(data_dir, dataset)
    ds = found.as_dataset(split=split, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})
    for example in tfds.as_numpy(ds):
        yield Image.fromarray(gate.decode_rgb(example["image"])), int(example["label"])


def robustness_scores(model, config: dict, data_dir: str, split: str, suite: str):
    """Raw robustness-suite scores of one source's split for a Keras model
    (dfd.evaluate.robustness.raw_scores: {degradation: P(fake)} and labels)."""
    from dfd.common import preprocess

    import tensorflow as tf

    size = config["image_size"]
    # Graph mode, traced once for every batch size: the degradations (Pillow, shared with
    # the device's suite so that both judge the same pixels) stay on the host.
    traced = tf.function(lambda images: model(images, training=False), input_signature=[
        tf.TensorSpec([None, size, size, 3], tf.float32)])

    def score_batch(images):
        return traced(images.astype(np.float32)).numpy()

    scores, labels = robustness.raw_scores(
        source_images(data_dir, config["dataset"], split), robustness.SUITES[suite],
        lambda rgb: preprocess.preprocess(rgb, size), {"model": score_batch},
        batch_size=config["batch_size"])
    return scores["model"], labels


def robustness_reports(model, config: dict, sources: list, splits: list[str], suite: str,
                       threshold: float = 0.5) -> tuple[dict, dict]:
    """({source: {split: report}}, {split: union report}): each source's images degraded and
    judged once, the union summarised from the same scores."""
    per_source, union = {}, {}
    for split in splits:
        raw = [robustness_scores(model, config, s.data_dir, split, suite) for s in sources]
        for source, (scores, labels) in zip(sources, raw):
            per_source.setdefault(source.name, {})[split] = robustness.summarize(
                scores, labels, threshold)
        names = raw[0][0].keys()
        union[split] = robustness.summarize(
            {n: np.concatenate([scores[n] for scores, _ in raw]) for n in names},
            np.concatenate([labels for _, labels in raw]), threshold)
    return per_source, union


def write_plots(workdir: str, results: dict, curves: dict, history: list[dict],
                per_source: dict | None = None) -> list[str]:
    """roc.png, pr.png, confusion_matrix.png and training_curves.png of the union; with
    several sources also roc_by_source.png (one panel per split, a curve per source)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig, name):
        path = os.path.join(workdir, name)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(5, 5))
    for split, (labels, scores) in curves.items():
        fpr, tpr, _ = metrics.roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{split} (AUC {results[split]['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate (real called fake)",
           ylabel="true positive rate (fakes caught)", title="ROC")
    ax.legend(loc="lower right")
    save(fig, "roc.png")

    if per_source:
        splits = list(curves)
        fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 4.2),
                                 squeeze=False)
        for ax, split in zip(axes[0], splits):
            for name, by_split in per_source.items():
                labels, scores = by_split[split]
                fpr, tpr, _ = metrics.roc_curve(labels, scores)
                ax.plot(fpr, tpr, label=f"{name} (AUC {metrics.roc_auc(labels, scores):.3f})")
            fpr, tpr, _ = metrics.roc_curve(*curves[split])
            ax.plot(fpr, tpr, "k--", lw=1, label=f"union (AUC {results[split]['auc']:.3f})")
            ax.plot([0, 1], [0, 1], "k:", lw=1)
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title=split)
            ax.legend(loc="lower right", fontsize=7)
        save(fig, "roc_by_source.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    for split, (labels, scores) in curves.items():
        precision, recall = metrics.precision_recall_curve(labels, scores)
        ax.plot(recall, precision, label=split)
    ax.set(xlabel="recall (fake)", ylabel="precision (fake)", title="Precision-recall",
           ylim=(0, 1.02))
    ax.legend(loc="lower left")
    save(fig, "pr.png")

    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.4), squeeze=False)
    for ax, (split, result) in zip(axes[0], results.items()):
        matrix = np.array(result["confusion_matrix"]["rows_truth_cols_predicted"])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center",
                    color="white" if count > matrix.max() / 2 else "black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["real", "fake"],
               yticklabels=["real", "fake"], xlabel="predicted", ylabel="truth", title=split)
    save(fig, "confusion_matrix.png")

    if history:
        keys = [k for k in ("loss", "auc", "accuracy") if k in history[0]]
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4), squeeze=False)
        epochs = [row["epoch"] + 1 for row in history]
        for ax, key in zip(axes[0], keys):
            ax.plot(epochs, [row[key] for row in history], "o-", label="train")
            if f"val_{key}" in history[0]:
                ax.plot(epochs, [row[f"val_{key}"] for row in history], "o-", label="validation")
            ax.set(xlabel="epoch", title=key)
            ax.legend()
        save(fig, "training_curves.png")
    return written


def earlier_fit(previous: dict | None, fit_on: str) -> calibration.Calibration | None:
    """The fit an earlier evaluation recorded on `fit_on`, if any."""
    if not previous or previous.get("fitted_on") != fit_on or previous.get("method") not in (
            "platt", "none"):
        return None
    return calibration.Calibration.from_dict(previous)


def calibration_section(model, config: dict, previous: dict | None, sources: list,
                        union: dict, curves: dict, fit_on: str, own: bool,
                        workdir: str) -> dict | None:
    """metrics.json's `calibration`: the Keras model's Platt fit on the training sources'
    `fit_on` split (validation), and ECE and Brier before and after it per split of the
    union and per source (one fit for every source, as on the device).

    Judged on the run's own sources the fit is made on their union's `fit_on` split
    (scored here when not among the splits evaluated) and calibration.png (with several
    sources also calibration_by_source.png) is drawn. Judged on other sources (a family
    left out of training), the earlier evaluation's fit is kept, or made again on the
    training sources when they are still where config.json says; their figures join
    `sources` and no diagram is redrawn. None when no fit can be had (the training data
    moved and no earlier fit is recorded)."""
    if own:
        fit_curve = union.get(fit_on)
        if fit_curve is None:
            fit_curve = union_curves(evaluate_splits(model, config, sources, [fit_on])[1],
                                     [fit_on])[fit_on]
        fitted = calibration.fit(*fit_curve)
        found = calibration_report.write(workdir, union, fitted, fit_on,
                                         curves if len(sources) > 1 else None)
    else:
        fitted = earlier_fit(previous, fit_on)
        if fitted is None:
            trained = run_sources(config)
            if not all(os.path.isdir(s.data_dir) for s in trained):
                return previous
            fitted = calibration.fit(*union_curves(
                evaluate_splits(model, config, trained, [fit_on])[1], [fit_on])[fit_on])
        found = {**fitted.as_dict(), "fitted_on": fit_on, "bins": calibration.BINS,
                 "sources": {name: calibration_report.figures(by_split, fitted)
                             for name, by_split in curves.items()}}
    if earlier_fit(previous, fit_on) == fitted:
        # the same checkpoint's fit: splits and sources not evaluated again are kept
        found["splits"] = {**previous.get("splits", {}), **found.get("splits", {})}
        found["sources"] = {**previous.get("sources", {}), **found.get("sources", {})}
    return found


def evaluate_workdir(workdir: str, splits: list[str] | None = None, robustness_suite="full",
                     robustness_splits=("test",), data_dirs: list[str] | None = None,
                     source_names: list[str] | None = None) -> dict:
    """Writes metrics.json and the plots; returns the metrics document.

    Every figure is given per source (`sources`) and for their union (`splits`,
    `robustness`; for one source the two are the same). The sources are the run's own, or
    `data_dirs` (--data_dir: when the data moved, or to judge the run on sources it never
    trained on, named by `source_names` or their folders). The robustness suite runs on each
    evaluated split named in `robustness_splits` (`robustness_suite` none, fast or full).
    Figures of earlier evaluations are kept for the splits and sources not evaluated again.
    `splits` and `robustness` stay the union of the sources the run trained on; judged on
    other sources, their union goes to `other_sources_union`."""
    config = load_config(workdir, data_dirs)
    sources = run_sources(config, data_dirs, source_names)
    if splits:
        for source in sources:
            pipeline.require_splits(source.data_dir, config["dataset"], "split", splits)
    model, checkpoint = load_model(workdir)
    if not splits:
        available = [set(pipeline.split_names(s.data_dir, config["dataset"])) for s in sources]
        splits = [name for name in pipeline.split_names(sources[0].data_dir, config["dataset"])
                  if all(name in names for names in available)]
    per_source, curves = evaluate_splits(model, config, sources, splits)
    union = union_curves(curves, splits)
    results = {split: metrics.summarize(*union[split]) for split in splits}
    robust_per_source, robust = {}, {}
    if robustness_suite != "none":
        chosen = [s for s in splits if s in robustness_splits]
        if chosen:
            robust_per_source, robust = robustness_reports(model, config, sources, chosen,
                                                           robustness_suite)
    path = os.path.join(workdir, "metrics.json")
    previous = {}
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
    names = [s.name for s in sources]
    trained_on = [s.name for s in run_sources(config)]
    own = names == trained_on
    report = {"checkpoint": checkpoint, "model": config["model"],
              "image_size": config["image_size"], "dataset": config["dataset"],
              "selected_on": config.get("eval_split", "validation"),
              # judged there on its reals and fakes, or on its reals and their self-blends
              "select_on": config.get("select_on", "fakes"),
              "trained_on": trained_on, "sources_evaluated": names,
              # the union is always the training sources': an export reads its thresholds
              # from it, and a family judged for the cross-family check must not leak in
              "splits": {**previous.get("splits", {}), **(results if own else {})},
              "sources": dict(previous.get("sources", {}))}
    if not own:
        report["other_sources_union"] = {"sources": names, "splits": results}
    if "teacher" in previous:  # a distilled run's agreement (dfd.evaluate.agreement) stays
        report["teacher"] = previous["teacher"]
    for source in sources:
        entry = dict(report["sources"].get(source.name, {}))
        entry["data_dir"] = source.data_dir
        entry["trained_on"] = source.name in trained_on
        entry["splits"] = {**entry.get("splits", {}), **per_source[source.name]}
        if source.name in robust_per_source:
            entry["robustness"] = {**entry.get("robustness", {}),
                                   **robust_per_source[source.name]}
        report["sources"][source.name] = entry
    if own and (robust or previous.get("robustness")):
        report["robustness"] = {**previous.get("robustness", {}), **robust}
    elif previous.get("robustness"):
        report["robustness"] = previous["robustness"]
    found = calibration_section(model, config, previous.get("calibration"), sources, union,
                                curves, report["selected_on"], own, workdir)
    if found is not None:
        report["calibration"] = found
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    if own:
        write_plots(workdir, results, union, read_history(workdir),
                    curves if len(sources) > 1 else None)
    if own and report.get("robustness"):
        robustness.write_chart(os.path.join(workdir, "robustness.png"), report["robustness"])
    return report


def summary_line(split: str, result: dict) -> str:
    return (f"{split}: accuracy {result['accuracy']:.4f}  AUC {result['auc']:.4f}  "
            f"EER {result['eer']:.4f}  precision {result['precision']:.4f}  "
            f"recall {result['recall']:.4f}  ({result['examples']} images)")


def print_report(report: dict) -> None:
    """The union's figures, then each source's when there are several."""
    for split, result in report["splits"].items():
        print(summary_line(split, result))
    for split, result in report.get("robustness", {}).items():
        print("\n".join(robustness.summary_lines(split, result)))
    evaluated = report.get("sources_evaluated", [])
    if evaluated != report.get("trained_on", evaluated):
        print(f"judged on sources it did not train on ({', '.join(evaluated)}); the lines "
              f"above are the training sources' union")
    if len(evaluated) > 1 or evaluated != report.get("trained_on", evaluated):
        for name in evaluated:
            for split, result in report["sources"][name]["splits"].items():
                print(summary_line(f"{name} {split}", result))
    if "calibration" in report:
        print("\n".join(calibration_report.summary_lines(report["calibration"], evaluated)))
