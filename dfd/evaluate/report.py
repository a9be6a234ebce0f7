"""Evaluation report: metrics.json and plots for a trained workdir.

    python -m dfd.evaluate --workdir=runs/x [--split=test]   (dfd/evaluate/__main__.py)

Reads the run's own resolved settings (workdir/config.json), loads the checkpoint chosen on
the validation split (best.keras), and writes workdir/metrics.json with, per split: loss,
accuracy, precision and recall of the fake class, ROC AUC, equal error rate and its
threshold, confusion matrix; plus roc.png, pr.png, confusion_matrix.png and
training_curves.png; and the robustness suite (dfd.evaluate.robustness: AUC and accuracy under JPEG,
resizing, blur, crops, colour jitter and a social-media chain) on --robustness_splits, as
metrics.json's `robustness` and robustness.png.
"""

from __future__ import annotations

import json
import os

import numpy as np

from dfd.common import metrics
from dfd.evaluate import robustness
from dfd.evaluate.run_folder import load_config, load_model, read_history
from dfd.train import pipeline

def predict(model, ds) -> tuple[np.ndarray, np.ndarray]:
    """(labels, P(fake)) over a dataset of (images, labels) batches, in its order.

    The whole pass is one graph (a tf.function looping over the dataset): no eager call and
    no Python per batch, so a GPU is fed as fast as the pipeline's prefetch delivers rather
    than at the speed the host dispatches eager ops."""
    import tensorflow as tf

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

    labels, scores = run(ds)
    return labels.numpy(), scores.numpy().astype(np.float64)


def evaluate_splits(model, config: dict, splits: list[str]) -> tuple[dict, dict]:
    results, curves = {}, {}
    cfg = pipeline.PipelineConfig(image_size=config["image_size"], batch_size=config["batch_size"],
                              cache="none", augment=())
    for split in splits:
        ds = pipeline.build_dataset(config["data_dir"], split, cfg, training=False,
                                dataset=config["dataset"])
        labels, scores = predict(model, ds)
        results[split] = metrics.summarize(labels, scores)
        curves[split] = (labels, scores)
    return results, curves


def source_images(config: dict, split: str):
    """(decoded RGB source image, label) of a split in file order, as the builder stored
    them: the robustness suite degrades the source, before the preprocessing contract."""
    import tensorflow_datasets as tfds
    from PIL import Image

    from dfd.lite import imageio

    found = pipeline.builder(config["data_dir"], config["dataset"])
    ds = found.as_dataset(split=split, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})
    for example in tfds.as_numpy(ds):
        yield Image.fromarray(imageio.decode_rgb(example["image"])), int(example["label"])


def robustness_report(model, config: dict, split: str, suite: str,
                      threshold: float = 0.5) -> dict:
    """The robustness suite on one split for a Keras model (see dfd.evaluate.robustness)."""
    from dfd.common import preprocess

    import tensorflow as tf

    size = config["image_size"]
    # Graph mode, traced once for every batch size: the degradations (Pillow, shared with
    # the device's suite so that both judge the same pixels) stay on the host.
    scores = tf.function(lambda images: model(images, training=False), input_signature=[
        tf.TensorSpec([None, size, size, 3], tf.float32)])

    def score_batch(images):
        return scores(images.astype(np.float32)).numpy()

    return robustness.score_suite(source_images(config, split), robustness.SUITES[suite],
                                  lambda rgb: preprocess.preprocess(rgb, size), score_batch,
                                  threshold=threshold, batch_size=config["batch_size"])


def write_plots(workdir: str, results: dict, curves: dict, history: list[dict]) -> list[str]:
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


def evaluate_workdir(workdir: str, splits: list[str] | None = None, robustness_suite="full",
                     robustness_splits=("test",), data_dir: str | None = None) -> dict:
    """Writes metrics.json and the plots; returns the metrics document.

    The robustness suite runs on each evaluated split named in `robustness_splits`
    (`robustness_suite` none, fast or full); its figures go under metrics.json's
    `robustness` and into robustness.png. `data_dir` replaces the run's recorded data dir
    (--data_dir, when the data moved)."""
    config = load_config(workdir, data_dir)
    if splits:
        pipeline.require_splits(config["data_dir"], config["dataset"], "split", splits)
    model, checkpoint = load_model(workdir)
    if not splits:
        splits = list(pipeline.split_names(config["data_dir"], config["dataset"]))
    results, curves = evaluate_splits(model, config, splits)
    robust = {}
    if robustness_suite != "none":
        for split in (s for s in splits if s in robustness_splits):
            robust[split] = robustness_report(model, config, split, robustness_suite)
    path = os.path.join(workdir, "metrics.json")
    previous = {}
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
    report = {"checkpoint": checkpoint, "model": config["model"],
              "image_size": config["image_size"], "dataset": config["dataset"],
              "selected_on": config.get("eval_split", "validation"),
              "splits": {**previous.get("splits", {}), **results}}
    if robust or previous.get("robustness"):
        report["robustness"] = {**previous.get("robustness", {}), **robust}
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    write_plots(workdir, results, curves, read_history(workdir))
    if report.get("robustness"):
        robustness.write_chart(os.path.join(workdir, "robustness.png"), report["robustness"])
    return report


def summary_line(split: str, result: dict) -> str:
    return (f"{split}: accuracy {result['accuracy']:.4f}  AUC {result['auc']:.4f}  "
            f"EER {result['eer']:.4f}  precision {result['precision']:.4f}  "
            f"recall {result['recall']:.4f}  ({result['examples']} images)")


def print_report(report: dict) -> None:
    for split, result in report["splits"].items():
        print(summary_line(split, result))
    for split, result in report.get("robustness", {}).items():
        print("\n".join(robustness.summary_lines(split, result)))
